package drill

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Sample is the state of the drill and the agent at one moment.
type Sample struct {
	At        time.Duration `json:"at"` // since the drill started publishing
	Time      time.Time     `json:"time"`
	Published uint64        `json:"published"` // by the fleet, so far
	Acked     uint64        `json:"acked"`     // acknowledged by the broker, so far
	AgentUp   bool          `json:"agent_up"`  // /status answered
	Backlog   uint64        `json:"backlog"`   // raw readings spooled, not yet confirmed by every sink
	Spooled   uint64        `json:"spooled"`   // raw stream's last seq
	// Delivered is the raw readings each sink confirmed, accumulated over
	// agent restarts.
	Delivered  map[string]uint64  `json:"delivered,omitempty"`
	AgentLinks map[string]string  `json:"agent_links,omitempty"` // the agent's view of each sink link
	Links      map[string]string  `json:"links"`                 // what the drill did to each link
	Faults     []string           `json:"faults,omitempty"`      // faults in progress
	Metrics    map[string]float64 `json:"metrics,omitempty"`     // selected /metrics, as read
	// Counted is the agent's loss counters, accumulated over restarts.
	Counted map[string]float64 `json:"counted,omitempty"`
	Status  json.RawMessage    `json:"status,omitempty"` // the whole /status
	Error   string             `json:"error,omitempty"`
}

// sampleEvery samples every SampleEvery until the returned stop is called.
func (r *runner) sampleEvery(ctx context.Context) (stop func()) {
	done, finished := make(chan struct{}), make(chan struct{})
	sent := newCounters()
	go func() {
		defer close(finished)
		t := time.NewTicker(r.d.SampleEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				s := r.sample(ctx, sent)
				r.mu.Lock()
				r.samples = append(r.samples, s)
				r.mu.Unlock()
				r.println(s.line())
			}
		}
	}()
	return func() { close(done); <-finished }
}

// sample takes one sample; sent accumulates the sinks' sent counters.
func (r *runner) sample(ctx context.Context, sent *counters) Sample {
	fs := r.fl.Stats()
	s := Sample{At: r.elapsed(), Time: time.Now().UTC(), Published: fs.Published, Acked: fs.Acked,
		Faults: r.activeFaults(r.elapsed())}
	r.mu.Lock()
	s.Links = make(map[string]string, len(r.linkState))
	for k, v := range r.linkState {
		s.Links[k] = v
	}
	r.mu.Unlock()
	st, raw, err := r.probe.status(ctx)
	if err != nil {
		s.Error = err.Error()
		return s
	}
	s.AgentUp, s.Status = true, raw
	s.Backlog, s.Spooled = st.backlog(), st.spooled()
	perSink, links := st.sinks()
	s.AgentLinks = links
	asFloat := map[string]float64{}
	for k, v := range perSink {
		asFloat[k] = float64(v)
	}
	sent.add(st.StartedAt, asFloat)
	s.Delivered = map[string]uint64{}
	for k, v := range sent.snapshot() {
		s.Delivered[k] = uint64(v)
	}
	m, err := r.probe.metrics(ctx)
	if err != nil {
		s.Error = err.Error()
		return s
	}
	s.Metrics = m
	r.counts.add(st.StartedAt, m)
	s.Counted = map[string]float64{}
	all := r.counts.snapshot()
	for _, k := range dropMetrics {
		s.Counted[k] = all[k]
	}
	return s
}

// activeFaults returns the labels of the steps whose fault is in progress.
func (r *runner) activeFaults(at time.Duration) []string {
	var out []string
	for _, s := range r.plan.Steps[1:] {
		if at >= s.Start && at < s.Recover {
			out = append(out, s.Label)
		}
	}
	return out
}

// line is the live status line.
func (s Sample) line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%6.0fs  published %7d  acked %7d | ", s.At.Seconds(), s.Published, s.Acked)
	if s.AgentUp {
		fmt.Fprintf(&b, "backlog %6d  spooled %7d", s.Backlog, s.Spooled)
	} else {
		b.WriteString("agent DOWN                    ")
	}
	b.WriteString(" |")
	for _, name := range sortedKeys(s.Links) {
		fmt.Fprintf(&b, " %s %s", name, s.Links[name])
		if st, ok := agentLink(s.AgentLinks, name); ok {
			fmt.Fprintf(&b, " (agent: %s)", st)
		}
	}
	if len(s.Faults) > 0 {
		b.WriteString(" | fault: " + strings.Join(s.Faults, ", "))
	}
	return b.String()
}

// agentLink finds the agent's state of a link: its sinks are named
// "kafka" and "influx", the drill's links "kafka" and "influxdb".
func agentLink(m map[string]string, link string) (string, bool) {
	for sink, st := range m {
		if strings.HasPrefix(link, sink) {
			return st, true
		}
	}
	return "", false
}
