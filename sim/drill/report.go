package drill

import (
	"bytes"
	"fmt"
	"html"
	"io"
	"strings"
	"time"

	"github.com/edgespool/edgespool/sim/verify"
)

// WriteHTML writes a self-contained HTML report of rec: verdict, versions,
// a timeline plot (inline SVG) and the per-step table. It loads nothing:
// no script, font or image.
func WriteHTML(w io.Writer, rec *Record) error {
	var b strings.Builder
	v, m := rec.Verdict, rec.Meta
	b.WriteString("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n")
	fmt.Fprintf(&b, "<title>edgespool drill %s: %s</title>\n<style>%s</style></head><body>\n", esc(rec.Drill), passFail(v.OK), reportCSS)
	fmt.Fprintf(&b, "<h1>Drill %s <span class=\"badge %s\">%s</span></h1>\n", esc(rec.Drill), strings.ToLower(passFail(v.OK)), passFail(v.OK))
	b.WriteString("<ul class=\"reasons\">")
	for _, r := range v.Reasons {
		fmt.Fprintf(&b, "<li>%s</li>", esc(r))
	}
	if v.OK {
		b.WriteString("<li>nothing acknowledged was lost; order, values, windows and alarms right</li>")
	}
	b.WriteString("</ul>\n<table class=\"meta\">")
	for _, kv := range [][2]string{
		{"started", m.Started.Format(time.RFC3339)}, {"ended", m.Ended.Format(time.RFC3339)}, {"host", m.Host},
		{"agent", m.AgentVersion}, {"broker", m.BrokerVersion},
		{"drill file sha256", m.DrillSHA256}, {"agent config", agentConfigFull(m)},
		{"seeds", fmt.Sprintf("fleet %d, schedule %d; scale %g", m.FleetSeed, m.ScheduleSeed, m.Scale)},
		{"fleet", fmt.Sprintf("%d generators at %g readings/s, QoS %d", rec.Fleet.Generators, rec.Fleet.Rate, rec.Fleet.QoS)},
		{"readings", fmt.Sprintf("%d published, %d acknowledged by the broker, %d lost; agent loss counters %.0f", v.Published, v.Acked, v.Lost, v.CountedTotal)},
	} {
		fmt.Fprintf(&b, "<tr><th>%s</th><td>%s</td></tr>", esc(kv[0]), esc(kv[1]))
	}
	b.WriteString("</table>\n<h2>Timeline</h2>\n")
	b.WriteString(timelineSVG(rec))
	b.WriteString("\n<h2>Steps</h2>\n")
	stepsTable(&b, v.Steps)
	b.WriteString("<h2>Verification</h2>\n<pre>")
	var t bytes.Buffer
	v.Report.WriteText(&t)
	b.WriteString(esc(t.String()))
	b.WriteString("</pre>\n<h2>Events</h2>\n")
	eventsTable(&b, rec.Events)
	b.WriteString("</body></html>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func agentConfigFull(m Meta) string {
	if m.AgentConfig == "" {
		return "not given"
	}
	return m.AgentConfig + " (sha256 " + m.AgentSHA256 + ")"
}

func esc(s string) string { return html.EscapeString(s) }

const reportCSS = `
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1d232a;max-width:1360px}
h1{font-size:22px;margin:0 0 8px}h2{font-size:17px;margin:24px 0 8px}
.badge{padding:2px 10px;border-radius:4px;color:#fff;font-size:16px}.pass{background:#1a7f37}.fail{background:#c62828}
ul.reasons{margin:4px 0 12px;padding-left:20px}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}
table.meta th{background:#f6f8fa;white-space:nowrap}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.bad td{background:#ffebe9}pre{background:#f6f8fa;padding:8px;font-size:12px;overflow-x:auto}
svg text{font-family:system-ui,sans-serif}
`

func stepsTable(b *strings.Builder, steps []StepResult) {
	b.WriteString("<table class=\"steps\"><tr><th>step</th><th>at</th><th>fault</th><th>published</th><th>acked</th>")
	if len(steps) > 0 {
		for _, s := range steps[0].Sinks {
			fmt.Fprintf(b, "<th>%s<br>delivered / dup / lost / reordered</th>", esc(s.Sink))
		}
		for _, d := range steps[0].Down {
			fmt.Fprintf(b, "<th>%s<br>windows / present / missing / wrong / extra / dup</th>", esc(d.Sink))
		}
	}
	b.WriteString("<th>max backlog</th><th>drained after</th><th>agent counted losses</th></tr>\n")
	for _, s := range steps {
		stepRow(b, s)
	}
	b.WriteString("</table>\n")
}

// stepRow writes one step's row, and a row under it naming the readings
// missing and the downsampled windows missing, wrong or extra.
func stepRow(b *strings.Builder, s StepResult) {
	var lost []string
	for _, k := range s.Sinks {
		for _, id := range sortedKeys(k.MissingBy) {
			lost = append(lost, fmt.Sprintf("%s: %s seq %s", k.Sink, id, verify.FormatRanges(k.MissingBy[id], 8)))
		}
	}
	bad := downExamples(s)
	class := ""
	if len(lost) > 0 || len(bad) > 0 {
		class = " class=\"bad\""
	}
	fmt.Fprintf(b, "<tr%s><td class=\"num\">%d</td><td>%v</td><td>%s</td><td class=\"num\">%d</td><td class=\"num\">%d</td>",
		class, s.Index, s.Start, esc(s.Label), s.Published, s.Acked)
	for _, k := range s.Sinks {
		fmt.Fprintf(b, "<td class=\"num\">%d / %d / %d / %d</td>", k.Delivered, k.Duplicates, k.Lost, k.Reordered)
	}
	for _, d := range s.Down {
		fmt.Fprintf(b, "<td class=\"num\">%s</td>", downCounts(d, " / "))
	}
	fmt.Fprintf(b, "<td class=\"num\">%d</td><td>%s</td><td class=\"num\">%.0f</td></tr>\n", s.MaxBacklog, drainText(s), s.Counted)
	cols := 7 + len(s.Sinks) + len(s.Down)
	for _, f := range []struct {
		what  string
		items []string
	}{{"missing", lost}, {"downsampled", bad}} {
		if len(f.items) > 0 {
			fmt.Fprintf(b, "<tr class=\"bad\"><td></td><td colspan=\"%d\">%s: %s</td></tr>\n", cols, f.what, esc(strings.Join(f.items, "; ")))
		}
	}
}

func eventsTable(b *strings.Builder, events []Event) {
	b.WriteString("<table class=\"events\"><tr><th>at</th><th>step</th><th>action</th><th>link</th><th>detail</th><th>outcome</th></tr>\n")
	for _, e := range events {
		outcome := "done"
		switch {
		case e.Skipped:
			outcome = "skipped: " + e.Error
		case e.Error != "":
			outcome = "FAILED: " + e.Error
		}
		step := fmt.Sprint(e.Step)
		if e.Step < 0 {
			step = "-"
		}
		fmt.Fprintf(b, "<tr><td class=\"num\">%.1fs</td><td class=\"num\">%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
			e.At.Seconds(), step, esc(e.Op), esc(e.Link), esc(e.Detail), esc(outcome))
	}
	b.WriteString("</table>\n")
}
