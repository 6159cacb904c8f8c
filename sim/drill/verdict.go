package drill

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/edgespool/edgespool/agent/model"
	"github.com/edgespool/edgespool/sim/fleet"
	"github.com/edgespool/edgespool/sim/verify"
)

// Verdict is the outcome of a drill.
type Verdict struct {
	// OK: the backlog drained, nothing acknowledged was lost, order and
	// values held in every sink, downsampled windows and alarms were right,
	// and every planned action was carried out (or skipped as unconfigured).
	OK        bool          `json:"ok"`
	Reasons   []string      `json:"reasons,omitempty"`
	Drained   bool          `json:"drained"`
	DrainTime time.Duration `json:"drain_time"` // from the end of publishing to an empty backlog
	Published uint64        `json:"published"`
	Acked     uint64        `json:"acked"`
	// Lost is the acknowledged readings missing from a sink (the most of
	// any sink); Counted the agent's loss counters over the drill.
	Lost         uint64             `json:"lost"`
	Counted      map[string]float64 `json:"counted"`
	CountedTotal float64            `json:"counted_total"`
	LossCounted  bool               `json:"loss_counted"` // every loss shows in the agent's counters
	Report       verify.Report      `json:"report"`
	Steps        []StepResult       `json:"steps"`
}

// StepResult is one scenario step's part of the verdict.
type StepResult struct {
	Step
	Published uint64     `json:"published"`
	Acked     uint64     `json:"acked"`
	Sinks     []StepSink `json:"sinks"`
	// Down judges the downsampled windows that start within the step, per
	// downsampled stream (Pending: a generator's last window of the run).
	Down       []verify.DownReport `json:"downsampled,omitempty"`
	MaxBacklog uint64              `json:"max_backlog"`
	// DrainAfter is the time from the fault's end until the backlog was
	// back under DrainThreshold; -1 when it never was.
	DrainAfter time.Duration `json:"drain_after"`
	Counted    float64       `json:"counted"` // agent loss counters' increase during the step
}

// StepSink is one sink's figures for one step.
type StepSink struct {
	Sink       string                    `json:"sink"`
	Delivered  int                       `json:"delivered"`
	Duplicates int                       `json:"duplicates"`
	Lost       uint64                    `json:"lost"`
	Reordered  int                       `json:"reordered"`
	MissingBy  map[string][]verify.Range `json:"missing_by,omitempty"`
}

// drainThreshold is the backlog under which the agent counts as drained
// after a fault: two seconds of the fleet's readings, at least 10.
func (d *Drill) drainThreshold() uint64 {
	return uint64(max(10, math.Ceil(2*d.Fleet.Rate*float64(d.Fleet.Generators))))
}

// verdict waits for the drain, verifies the sinks and judges every step.
func (r *runner) verdict(ctx context.Context, sum fleet.Summary) (Verdict, error) {
	v := Verdict{}
	for _, d := range sum.Devices {
		v.Published += d.Published
		v.Acked += d.Acked
	}
	exp := verify.ExpectSummary(sum)
	f, err := os.Open(filepath.Join(r.o.Dir, PublishedFile))
	if err != nil {
		return v, fmt.Errorf("published log: %w", err)
	}
	err = exp.AddLog(f)
	f.Close()
	if err != nil {
		return v, err
	}
	back, err := r.drainAndVerify(ctx, exp, &v)
	if err != nil {
		return v, err
	}
	if v.Drained {
		r.note("drained", fmt.Sprintf("backlog empty %.1fs after publishing ended", (v.DrainTime).Seconds()))
	}
	r.judge(&v, exp, back)
	return v, nil
}

// drainAndVerify waits until the agent's backlog is empty (or the drain
// timeout), then verifies; while readings are still missing and time
// remains, it waits and verifies again.
func (r *runner) drainAndVerify(ctx context.Context, exp verify.Expect, v *Verdict) (readBack, error) {
	began := time.Now()
	deadline := began.Add(r.d.DrainTimeout)
	r.note("draining", fmt.Sprintf("waiting up to %v for the agent's backlog to empty", r.d.DrainTimeout))
	var back readBack
	lastMissing := uint64(math.MaxUint64)
	for {
		if r.backlogEmpty() && !v.Drained {
			v.Drained, v.DrainTime = true, time.Since(began)
		}
		if v.Drained || time.Now().After(deadline) {
			rep, b, err := r.verify(ctx, exp)
			if err != nil && time.Now().After(deadline) {
				return back, err
			}
			if err == nil {
				v.Report, back = rep, b
				missing := missingOf(rep)
				if missing == 0 || missing == lastMissing || time.Now().After(deadline) {
					return back, nil
				}
				lastMissing = missing
			}
		}
		if !sleepCtx(ctx, 2*r.d.SampleEvery) {
			return back, ctx.Err()
		}
	}
}

// backlogEmpty reports whether the last two samples saw the agent with an
// empty backlog.
func (r *runner) backlogEmpty() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(r.samples)
	if n < 2 {
		return false
	}
	for _, s := range r.samples[n-2:] {
		if !s.AgentUp || s.Backlog > 0 {
			return false
		}
	}
	return true
}

func missingOf(rep verify.Report) uint64 {
	var n uint64
	for _, x := range rep.Raw {
		n = max(n, x.Missing)
	}
	return n
}

// readBack is what the sinks held, kept to judge the steps.
type readBack struct {
	raw  map[string][]verify.Observation // raw records per sink
	down []downStream
}

// downStream is one downsampled stream and the raw readings of its sink.
type downStream struct {
	sink   string
	raw    []model.Reading
	points []verify.Observation
}

// verify reads the sinks back, keeping the records for the steps.
func (r *runner) verify(ctx context.Context, exp verify.Expect) (verify.Report, readBack, error) {
	s := r.d.Site.Sinks
	back := readBack{raw: map[string][]verify.Observation{}}
	cfg := verify.Config{Expect: exp, RawTopic: s.Kafka.RawTopic, DownTopic: s.Kafka.DownTopic,
		RawDB: s.InfluxDB.RawDB, DownDB: s.InfluxDB.DownDB, NoDown: s.NoDown,
		Down:  r.downOptions(),
		OnRaw: func(sink string, o []verify.Observation) { back.raw[sink] = o },
		OnDown: func(sink string, raw []model.Reading, points []verify.Observation) {
			back.down = append(back.down, downStream{sink, raw, points})
		}}
	if len(s.Kafka.Brokers) > 0 {
		cfg.Kafka = verify.KafkaOptions{Brokers: s.Kafka.Brokers, Timeout: s.Timeout, Logger: r.o.Logger}
	}
	if s.InfluxDB.URL != "" {
		cfg.Influx = verify.InfluxOptions{URL: strings.TrimRight(s.InfluxDB.URL, "/"), Username: s.InfluxDB.Username,
			Password: s.InfluxDB.Password, Token: s.InfluxDB.Token, Timeout: s.Timeout}
	}
	rep, err := verify.Run(ctx, cfg)
	if err != nil {
		return rep, back, fmt.Errorf("verify: %w", err)
	}
	return rep, back, nil
}

func (r *runner) downOptions() verify.DownOptions {
	return verify.DownOptions{Window: r.d.Site.Sinks.Window, Region: r.d.Site.Sinks.Region}
}

// judge fills the totals, the steps and the reasons of v.
func (r *runner) judge(v *Verdict, exp verify.Expect, back readBack) {
	v.Lost = missingOf(v.Report)
	r.mu.Lock()
	samples := r.samples
	events := r.events
	r.mu.Unlock()
	v.Counted = map[string]float64{}
	if n := len(samples); n > 0 {
		v.Counted = samples[n-1].Counted
	}
	for _, c := range v.Counted {
		v.CountedTotal += c
	}
	v.LossCounted = v.CountedTotal >= float64(v.Lost)
	v.Steps = judgeSteps(r.plan, r.start, exp, back.raw, samples, r.d.drainThreshold())
	judgeDownSteps(v.Steps, stepBounds(r.plan, r.start), back.down, r.downOptions())
	v.Reasons = reasons(v, events)
	v.OK = len(v.Reasons) == 0
}

func reasons(v *Verdict, events []Event) []string {
	var out []string
	if !v.Drained {
		out = append(out, "the agent's backlog did not drain in time")
	}
	if v.Lost > 0 {
		out = append(out, fmt.Sprintf("%d acknowledged readings lost", v.Lost))
	}
	for _, x := range v.Report.Raw {
		if x.Missing == 0 && !x.OK() {
			out = append(out, "raw "+x.Sink+": disorder or wrong data (see the report)")
		}
	}
	for _, x := range v.Report.Down {
		if !x.OK() {
			out = append(out, "downsampled "+x.Sink+": missing, wrong or extra points")
		}
	}
	out = append(out, downReasons(v.Steps)...)
	for _, e := range events {
		if e.Error != "" && !e.Skipped {
			out = append(out, fmt.Sprintf("%s %s at %.0fs failed: %s", e.Op, e.Link, e.At.Seconds(), e.Error))
		}
	}
	return out
}

// span is the seq range of one generator within a step.
type span struct{ from, to uint64 }

// judgeSteps splits the readings by the step in which they were
// published and checks each step's slice of every sink.
func judgeSteps(p Plan, start time.Time, exp verify.Expect, obs map[string][]verify.Observation, samples []Sample, threshold uint64) []StepResult {
	bounds := stepBounds(p, start)
	stepOf := func(t int64) int { return sort.Search(len(bounds), func(i int) bool { return bounds[i] > t }) - 1 }
	spans := make([]map[string]span, len(p.Steps))
	for i := range spans {
		spans[i] = map[string]span{}
	}
	for id, rs := range exp.Readings {
		for seq, rd := range rs {
			sp := spans[stepOf(rd.Time)]
			cur, ok := sp[id]
			if !ok {
				cur = span{seq, seq}
			}
			sp[id] = span{min(cur.from, seq), max(cur.to, seq)}
		}
	}
	out := make([]StepResult, len(p.Steps))
	for i, s := range p.Steps {
		until := s.End
		if i == len(p.Steps)-1 {
			until = math.MaxInt64 // the last step runs on through the drain
		}
		out[i] = stepResult(s, until, spans[i], exp, samples, threshold)
	}
	byTime := exp.SeqByTime()
	for _, sink := range sortedKeys(obs) {
		parts := make([][]verify.Observation, len(p.Steps))
		for _, o := range obs[sink] {
			seq := o.Seq
			if seq == 0 {
				seq = byTime[o.GeneratorID][o.Time]
			}
			rd, ok := exp.Readings[o.GeneratorID][seq]
			if !ok {
				continue // judged by the whole-run check
			}
			o.Seq = seq
			i := stepOf(rd.Time)
			parts[i] = append(parts[i], o)
		}
		for i := range p.Steps {
			rep := verify.CheckRaw(sink, stepExpect(exp, spans[i]), parts[i])
			out[i].Sinks = append(out[i].Sinks, StepSink{Sink: sink, Delivered: rep.Unique, Duplicates: rep.Duplicates,
				Lost: rep.Missing, Reordered: rep.OutOfOrder, MissingBy: rep.MissingBy})
		}
	}
	return out
}

// stepBounds returns when each step starts (Unix ns); the first step
// starts at the earliest time.
func stepBounds(p Plan, start time.Time) []int64 {
	bounds := make([]int64, len(p.Steps))
	for i, s := range p.Steps {
		bounds[i] = start.Add(s.Start).UnixNano()
	}
	bounds[0] = math.MinInt64
	return bounds
}

// stepExpect is exp restricted to the step's seq spans.
func stepExpect(exp verify.Expect, sp map[string]span) verify.Expect {
	e := verify.Expect{Devices: map[string]verify.Device{}, Readings: exp.Readings}
	for id, s := range sp {
		d := exp.Devices[id]
		e.Devices[id] = verify.Device{From: s.from, Acked: min(d.Acked, s.to), Published: s.to}
	}
	return e
}

func stepResult(s Step, until time.Duration, sp map[string]span, exp verify.Expect, samples []Sample, threshold uint64) StepResult {
	res := StepResult{Step: s, DrainAfter: -1}
	for id, x := range sp {
		res.Published += x.to - x.from + 1
		if a := exp.Devices[id].Acked; a >= x.from {
			res.Acked += min(a, x.to) - x.from + 1
		}
	}
	var before, last float64
	for _, smp := range samples {
		if smp.At < s.Start {
			before = sumCounted(smp.Counted, before)
			continue
		}
		if smp.At < until {
			res.MaxBacklog = max(res.MaxBacklog, smp.Backlog)
			last = sumCounted(smp.Counted, last)
		}
		if s.Fault != nil && res.DrainAfter < 0 && smp.At >= s.Recover && smp.AgentUp && smp.Backlog <= threshold {
			res.DrainAfter = smp.At - s.Recover
		}
	}
	res.Counted = max(0, last-before)
	if s.Fault == nil {
		res.DrainAfter = 0
	}
	return res
}

// sumCounted returns the sum of the loss counters, or prev when the
// sample has none (agent down).
func sumCounted(c map[string]float64, prev float64) float64 {
	if c == nil {
		return prev
	}
	var n float64
	for _, v := range c {
		n += v
	}
	return n
}
