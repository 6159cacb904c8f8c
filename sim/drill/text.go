package drill

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/edgespool/edgespool/sim/verify"
)

// WriteText prints the verdict for a person.
func (rec *Record) WriteText(w io.Writer) {
	v, m := rec.Verdict, rec.Meta
	fmt.Fprintf(w, "\n== drill %s: %s ==\n", rec.Drill, passFail(v.OK))
	fmt.Fprintf(w, "agent %s; broker %s\n", m.AgentVersion, m.BrokerVersion)
	fmt.Fprintf(w, "drill file sha256 %s; agent config %s; fleet seed %d; schedule seed %d; scale %g\n",
		short(m.DrillSHA256), agentConfig(m), m.FleetSeed, m.ScheduleSeed, m.Scale)
	drain := "backlog NOT drained"
	if v.Drained {
		drain = fmt.Sprintf("backlog drained %.1fs after publishing ended", v.DrainTime.Seconds())
	}
	fmt.Fprintf(w, "%d readings published, %d acknowledged by the broker; %s\n\n", v.Published, v.Acked, drain)
	writeSteps(w, v.Steps)
	fmt.Fprintln(w)
	v.Report.WriteText(w)
	fmt.Fprintf(w, "agent loss counters:%s\n", countedText(v.Counted))
	switch {
	case v.Lost == 0:
	case v.LossCounted:
		fmt.Fprintf(w, "%d acknowledged readings lost; the agent counted %.0f losses (every loss counted)\n", v.Lost, v.CountedTotal)
	default:
		fmt.Fprintf(w, "%d acknowledged readings lost; the agent counted only %.0f: losses it did not see\n", v.Lost, v.CountedTotal)
	}
	for _, e := range rec.Events {
		if e.Skipped {
			fmt.Fprintf(w, "skipped at %.0fs: %s %s: %s\n", e.At.Seconds(), e.Op, e.Link, e.Error)
		}
	}
	if v.OK {
		fmt.Fprintln(w, "PASS: nothing acknowledged was lost; order, values, windows and alarms right")
		return
	}
	for _, r := range v.Reasons {
		fmt.Fprintln(w, "FAIL: "+r)
	}
}

func passFail(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func agentConfig(m Meta) string {
	if m.AgentConfig == "" {
		return "not given"
	}
	return m.AgentConfig + " sha256 " + short(m.AgentSHA256)
}

func countedText(c map[string]float64) string {
	var b strings.Builder
	for _, k := range dropMetrics {
		fmt.Fprintf(&b, " %s %.0f", strings.TrimPrefix(k, "edgespool_"), c[k])
	}
	return b.String()
}

func writeSteps(w io.Writer, steps []StepResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "step\tat\tfault\tpublished\tacked")
	if len(steps) > 0 {
		for _, k := range steps[0].Sinks {
			fmt.Fprintf(tw, "\t%s delivered/dup/lost/reord", sinkKind(k.Sink))
		}
		for _, d := range steps[0].Down {
			fmt.Fprintf(tw, "\t%s down windows/present/miss/wrong/extra/dup", sinkKind(d.Sink))
		}
	}
	fmt.Fprintln(tw, "\tmax backlog\tdrained after\tcounted")
	for _, s := range steps {
		fmt.Fprintf(tw, "%d\t%v\t%s\t%d\t%d", s.Index, s.Start, s.Label, s.Published, s.Acked)
		for _, k := range s.Sinks {
			fmt.Fprintf(tw, "\t%d/%d/%d/%d", k.Delivered, k.Duplicates, k.Lost, k.Reordered)
		}
		for _, d := range s.Down {
			fmt.Fprintf(tw, "\t%s", downCounts(d, "/"))
		}
		fmt.Fprintf(tw, "\t%d\t%s\t%.0f\n", s.MaxBacklog, drainText(s), s.Counted)
	}
	tw.Flush()
	for _, s := range steps {
		for _, k := range s.Sinks {
			for _, id := range sortedKeys(k.MissingBy) {
				fmt.Fprintf(w, "step %d %s: missing %s seq %s\n", s.Index, k.Sink, id, verify.FormatRanges(k.MissingBy[id], 8))
			}
		}
		for _, e := range downExamples(s) {
			fmt.Fprintf(w, "step %d %s\n", s.Index, e)
		}
	}
}

func drainText(s StepResult) string {
	switch {
	case s.Fault == nil:
		return "-"
	case s.DrainAfter < 0:
		return "never"
	}
	return s.DrainAfter.Round(100 * time.Millisecond).String()
}

// sinkKind is the first word of a sink's name ("kafka", "influxdb").
func sinkKind(sink string) string {
	kind, _, _ := strings.Cut(sink, " ")
	return kind
}
