package drill

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/edgespool/edgespool/sim/verify"
)

// syntheticRecord is a 60 s drill with a cut, a kill and a broker
// restart, sampled every second, with a loss in the kill step.
func syntheticRecord(t *testing.T) *Record {
	t.Helper()
	d := mustExample(t, "quick")
	d.Scale(0.5)
	p := d.Plan()
	rec := &Record{Drill: "synthetic", Fleet: d.Fleet, Plan: p, Meta: Meta{AgentVersion: "edgespool 1.0", BrokerVersion: "mosquitto version 2.0.11"}}
	for _, a := range p.Actions {
		rec.Events = append(rec.Events, Event{At: a.At, Step: a.Step, Op: a.Op, Link: a.Link})
	}
	rec.Events = append(rec.Events, Event{At: d.Duration, Step: -1, Op: "publishing done"})
	var pub uint64
	for i := 1; i <= 70; i++ {
		at := time.Duration(i) * time.Second
		if at <= d.Duration {
			pub += 50
		}
		s := Sample{At: at, Published: pub, Acked: pub, AgentUp: !(at > 28*time.Second && at < 31*time.Second),
			Links: map[string]string{LinkKafka: "up", LinkInflux: "up"}, Delivered: map[string]uint64{"kafka": pub, "influx": pub}}
		if at > 10*time.Second && at <= 20*time.Second {
			s.Links[LinkKafka] = "CUT"
			s.Backlog = uint64(at/time.Second-10) * 50
		}
		rec.Samples = append(rec.Samples, s)
	}
	rec.Verdict = Verdict{Published: pub, Acked: pub, Lost: 30, Reasons: []string{"30 acknowledged readings lost"}}
	for _, s := range p.Steps {
		sr := StepResult{Step: s, Published: 10, Acked: 10}
		sr.Sinks = []StepSink{{Sink: "kafka emergency_generators", Delivered: 10}}
		if s.Fault != nil && s.Fault.Kind == KindAgentKill {
			sr.Sinks[0].Lost = 30
			sr.Sinks[0].MissingBy = map[string][]verify.Range{"generator3": {{From: 40, To: 69}}}
		}
		rec.Verdict.Steps = append(rec.Verdict.Steps, sr)
	}
	return rec
}

func TestReportMarksFaultsAndLoss(t *testing.T) {
	rec := syntheticRecord(t)
	var b bytes.Buffer
	if err := WriteHTML(&b, rec); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	checkReport(t, html, rec.Plan)
	for _, want := range []string{"FAIL", "generator3 seq 40-69", "mosquitto version 2.0.11", `class="action" data-op="agent-kill"`} {
		if !strings.Contains(html, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	var txt bytes.Buffer
	rec.WriteText(&txt)
	for _, want := range []string{"FAIL: 30 acknowledged readings lost", "missing generator3 seq 40-69", "kafka cut 10s"} {
		if !strings.Contains(txt.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, txt.String())
		}
	}
}

// Fault labels that start close together go to different rows.
func TestLabelRowsDoNotOverlap(t *testing.T) {
	p := &plot{tmax: 100}
	faults := []Step{
		{Index: 1, Label: "kafka cut 20s", Start: 10 * time.Second},
		{Index: 2, Label: "agent-kill (down 5s)", Start: 11 * time.Second},
		{Index: 3, Label: "broker-restart", Start: 90 * time.Second},
	}
	rows, n := labelRows(p, faults)
	if n != 2 || rows[0] == rows[1] || rows[2] != 0 {
		t.Errorf("rows %v (%d)", rows, n)
	}
}

func TestCountersAcrossRestarts(t *testing.T) {
	c := newCounters()
	t0, t1 := time.Unix(100, 0), time.Unix(200, 0)
	c.add(t0, map[string]float64{"x": 5})
	c.add(t0, map[string]float64{"x": 8})
	c.add(t1, map[string]float64{"x": 2}) // restarted: 2 new, 8 before
	c.add(t1, map[string]float64{"x": 9})
	if got := c.snapshot()["x"]; got != 8+2+7 {
		t.Errorf("total %v, want 17", got)
	}
}

func TestParseMetricsSumsLabels(t *testing.T) {
	m, err := parseMetrics(strings.NewReader(`# TYPE edgespool_spool_dropped_records_total counter
edgespool_spool_dropped_records_total{stream="raw",reason="bytes"} 3
edgespool_spool_dropped_records_total{stream="raw",reason="age"} 4
# TYPE edgespool_mqtt_connected gauge
edgespool_mqtt_connected 1
# TYPE other_total counter
other_total 7
`))
	if err != nil {
		t.Fatal(err)
	}
	if m[metricSpoolDropped] != 7 || m["edgespool_mqtt_connected"] != 1 || len(m) != 2 {
		t.Errorf("metrics %v", m)
	}
}
