package drill

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent/model"
	"github.com/edgespool/edgespool/sim/fleet"
	"github.com/edgespool/edgespool/sim/verify"
)

// stepsRun is a two-minute run of two generators reading once a second,
// in four 30 s steps, with 10 s downsample windows: the expected set, the
// raw records a sink delivered (all of them) and the correct downsampled
// points, by generator and window start (seconds into the run).
type stepsRun struct {
	start  time.Time
	plan   Plan
	exp    verify.Expect
	raw    []verify.Observation
	points map[string]map[int]verify.Observation
}

const stepsWindow = 10 * time.Second

func newStepsRun() stepsRun {
	r := stepsRun{start: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC),
		exp:    verify.Expect{Devices: map[string]verify.Device{}, Readings: map[string]map[uint64]model.Reading{}},
		points: map[string]map[int]verify.Observation{}}
	for i, label := range []string{"baseline", "kafka cut 30s", "agent-kill", "broker-restart"} {
		at := time.Duration(i) * 30 * time.Second
		r.plan.Steps = append(r.plan.Steps, Step{Index: i, Label: label, Start: at, End: at + 30*time.Second})
	}
	for g := 1; g <= 2; g++ {
		id := fleet.ID(g)
		r.exp.Devices[id] = verify.Device{Acked: 120, Published: 120}
		r.exp.Readings[id], r.points[id] = map[uint64]model.Reading{}, map[int]verify.Observation{}
		for k := range 120 {
			rd := model.Reading{GeneratorID: id, Seq: uint64(k + 1), Time: r.start.Add(time.Duration(k)*time.Second + time.Millisecond).UnixNano(),
				Fuel: int64(800 - 5*k - g)} // below 500 from about a minute in
			r.exp.Readings[id][rd.Seq] = rd
			r.raw = append(r.raw, verify.Observation{Reading: rd, Partition: 0, Offset: int64(len(r.raw))})
			w := k / 10 * 10
			r.points[id][w] = verify.Observation{Reading: rd, Alarm: verify.ExpectedAlarm(rd.Fuel), Region: verify.DefaultRegion,
				Window: r.start.Add(time.Duration(w) * time.Second).UnixNano(), HasWindow: true, Partition: -1}
		}
	}
	return r
}

// judge runs the drill's judgment over the run with the given points, as
// the drill does once the sinks are read back.
func (r stepsRun) judge(points []verify.Observation) Verdict {
	const rawSink, downSink = "kafka raw", "kafka down"
	d := &Drill{Fleet: Fleet{Generators: 2, Rate: 1}, Site: Site{Sinks: Sinks{Window: stepsWindow, Region: verify.DefaultRegion}}}
	run := &runner{d: d, plan: r.plan, start: r.start}
	src := verify.Readings(r.raw)
	v := Verdict{Drained: true, Report: verify.Report{
		Raw:  []verify.RawReport{verify.CheckRaw(rawSink, r.exp, r.raw)},
		Down: []verify.DownReport{verify.CheckDown(downSink, src, points, run.downOptions())},
	}}
	run.judge(&v, r.exp, readBack{raw: map[string][]verify.Observation{rawSink: r.raw},
		down: []downStream{{sink: downSink, raw: src, points: points}}})
	return v
}

// One window missing in step 2 and one wrong alarm in step 3: each step
// names its own finding, the drill fails naming both steps, and the
// steps add up to the whole run's downsampled totals.
func TestStepsJudgeDownsampledWindows(t *testing.T) {
	r := newStepsRun()
	var points []verify.Observation
	for _, id := range []string{"generator1", "generator2"} {
		for w := 0; w < 120; w += 10 {
			p := r.points[id][w]
			switch {
			case id == "generator1" && w == 70: // step 2: never delivered
				continue
			case id == "generator2" && w == 100: // step 3: fuel is below 500
				p.Alarm = verify.AlarmNoAction
			case id == "generator2" && w == 110: // the last window, still open
				continue
			case id == "generator1" && w == 40: // step 1: replayed
				points = append(points, p)
			}
			points = append(points, p)
		}
	}
	v := r.judge(points)
	want := []struct{ missing, wrong, dup, pending int }{{0, 0, 0, 0}, {0, 0, 1, 0}, {1, 0, 0, 0}, {0, 1, 0, 1}}
	for i, s := range v.Steps {
		if len(s.Down) != 1 {
			t.Fatalf("step %d: %d downsampled reports", i, len(s.Down))
		}
		d := s.Down[0]
		if got := (struct{ missing, wrong, dup, pending int }{d.Missing, d.Wrong, d.Duplicates, d.Pending}); got != want[i] || d.Windows != 6 {
			t.Errorf("step %d: %d windows, missing/wrong/dup/pending %v, want 6 and %v", i, d.Windows, got, want[i])
		}
	}
	checkDownTotals(t, v)
	if v.OK {
		t.Fatal("verdict passed with a missing window and a wrong alarm")
	}
	reasons := strings.Join(v.Reasons, "\n")
	for _, want := range []string{"step 2 (agent-kill): downsampled kafka down: 1 missing of 6 windows",
		"step 3 (broker-restart): downsampled kafka down: 1 wrong of 6 windows"} {
		if !strings.Contains(reasons, want) {
			t.Errorf("reasons lack %q:\n%s", want, reasons)
		}
	}
	if strings.Contains(reasons, "step 1") || strings.Contains(reasons, "step 0") {
		t.Errorf("reasons name a step without a finding:\n%s", reasons)
	}
	checkDownShown(t, v)
}

// checkDownTotals asserts that the steps' downsampled figures add up to
// the whole run's.
func checkDownTotals(t *testing.T, v Verdict) {
	t.Helper()
	whole := v.Report.Down[0]
	var sum verify.DownReport
	for _, s := range v.Steps {
		d := s.Down[0]
		sum.Points += d.Points
		sum.Windows += d.Windows
		sum.Present += d.Present
		sum.Missing += d.Missing
		sum.Wrong += d.Wrong
		sum.Extra += d.Extra
		sum.Duplicates += d.Duplicates
		sum.Pending += d.Pending
	}
	sum.Sink, sum.Alarms, sum.Examples = whole.Sink, whole.Alarms, whole.Examples
	if whole.Missing != 1 || whole.Wrong != 1 || whole.Windows != 24 || fmt.Sprint(sum) != fmt.Sprint(whole) {
		t.Errorf("steps add up to %+v\nwhole run %+v", sum, whole)
	}
}

// checkDownShown asserts that the summary, the report and the JSON
// verdict show each step's downsampled figures and findings.
func checkDownShown(t *testing.T, v Verdict) {
	t.Helper()
	rec := &Record{Drill: "steps", Plan: newStepsRun().plan, Verdict: v}
	var txt, html bytes.Buffer
	rec.WriteText(&txt)
	if err := WriteHTML(&html, rec); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kafka down windows/present/miss/wrong/extra/dup", "6/5/1/0/0/0",
		"step 2 kafka down: missing generator1 window 2024-05-01T12:01:10Z",
		`step 3 kafka down: wrong generator2 window 2024-05-01T12:01:40Z: alarm "no action"`} {
		if !strings.Contains(txt.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, txt.String())
		}
	}
	for _, want := range []string{"windows / present / missing / wrong / extra / dup", "6 / 5 / 1 / 0 / 0 / 0",
		"downsampled: kafka down: wrong generator2 window 2024-05-01T12:01:40Z"} {
		if !strings.Contains(html.String(), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Steps []struct {
			Down []struct{ Present, Missing, Wrong int } `json:"downsampled"`
		} `json:"steps"`
	}
	if err := json.Unmarshal(b, &back); err != nil || len(back.Steps) != 4 || len(back.Steps[3].Down) != 1 ||
		back.Steps[3].Down[0].Wrong != 1 || back.Steps[2].Down[0].Missing != 1 || back.Steps[2].Down[0].Present != 5 {
		t.Errorf("JSON verdict steps %+v (%v)", back.Steps, err)
	}
}
