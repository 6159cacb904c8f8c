package drill

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"
)

// Event is one thing that happened during the drill: an action of the
// plan (with its outcome) or a phase of the run.
type Event struct {
	At      time.Duration `json:"at"` // since the drill started publishing
	Time    time.Time     `json:"time"`
	Step    int           `json:"step"`
	Op      string        `json:"op"`
	Link    string        `json:"link,omitempty"`
	Detail  string        `json:"detail,omitempty"`
	Error   string        `json:"error,omitempty"`
	Skipped bool          `json:"skipped,omitempty"` // the site gives no way to do it
}

// play runs the plan's actions at their times.
func (r *runner) play(ctx context.Context) {
	for _, a := range r.plan.Actions {
		if !sleepCtx(ctx, time.Until(r.start.Add(a.At))) {
			return
		}
		r.do(ctx, a)
	}
}

// do performs one action and records it.
func (r *runner) do(ctx context.Context, a Action) {
	ev := Event{At: r.elapsed(), Time: time.Now().UTC(), Step: a.Step, Op: a.Op, Link: a.Link}
	detail, err := r.act(ctx, a)
	ev.Detail = detail
	if err != nil {
		ev.Error = err.Error()
		ev.Skipped = errors.Is(err, ErrNotConfigured) || errors.Is(err, ErrUnsupported)
	}
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
	line := fmt.Sprintf("==> %6.1fs %s", ev.At.Seconds(), a.Op)
	if a.Link != "" {
		line += " " + a.Link
	}
	if detail != "" {
		line += " (" + detail + ")"
	}
	switch {
	case ev.Skipped:
		line += " SKIPPED: " + ev.Error
	case err != nil:
		line += " FAILED: " + ev.Error
	}
	r.println(line)
}

func (r *runner) act(ctx context.Context, a Action) (string, error) {
	var f *Fault
	if a.Step >= 0 {
		f = r.plan.Steps[a.Step].Fault
	}
	switch a.Op {
	case OpCut, OpRestore, OpLatency, OpBandwidth, OpClear:
		return r.linkAct(a, f)
	case OpAgentKill:
		return "", r.agent.Kill(ctx)
	case OpAgentStop:
		return "", r.agent.Stop(ctx)
	case OpAgentStart:
		return r.startAgent(ctx)
	case OpBrokerKill:
		return "", r.broker.Kill(ctx)
	case OpBrokerStop:
		return "", r.broker.Stop(ctx)
	case OpBrokerStart:
		return r.startBroker(ctx)
	case OpFill, OpRelease:
		return "", r.pressure(ctx, a.Op)
	}
	return "", fmt.Errorf("unknown action %q", a.Op)
}

func (r *runner) linkAct(a Action, f *Fault) (string, error) {
	b, ok := r.links[a.Link]
	if !ok {
		return "", fmt.Errorf("link %s: %w (give site.links.%s)", a.Link, ErrNotConfigured, a.Link)
	}
	var err error
	state, detail := "up", ""
	switch a.Op {
	case OpCut:
		err, state = b.Cut(), "CUT"
	case OpRestore:
		err = b.Restore()
	case OpClear:
		err = b.Clear()
	case OpLatency:
		detail = fmt.Sprintf("%v ± %v", f.Latency, f.Jitter)
		err, state = b.Latency(f.Latency, f.Jitter), "latency "+f.Latency.String()
	case OpBandwidth:
		detail = fmt.Sprintf("%d KB/s", f.KBps)
		err, state = b.Bandwidth(f.KBps), detail
	}
	if err == nil {
		r.mu.Lock()
		r.linkState[a.Link] = state
		r.mu.Unlock()
	}
	return detail, err
}

func (r *runner) startAgent(ctx context.Context) (string, error) {
	began := time.Now()
	if err := r.agent.Start(ctx); err != nil {
		return "", err
	}
	if err := r.waitAgent(ctx, r.d.Site.Agent.ReadyWait); err != nil {
		return "", err
	}
	return fmt.Sprintf("ready after %.1fs", time.Since(began).Seconds()), nil
}

func (r *runner) startBroker(ctx context.Context) (string, error) {
	began := time.Now()
	if err := r.broker.Start(ctx); err != nil {
		return "", err
	}
	addr, err := brokerAddr(r.d.Site.Broker.URL)
	if err != nil {
		return "", err
	}
	deadline := began.Add(r.d.Site.Broker.ReadyWait)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return fmt.Sprintf("listening after %.1fs", time.Since(began).Seconds()), nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("broker not listening on %s after %v: %w", addr, r.d.Site.Broker.ReadyWait, err)
		}
		if !sleepCtx(ctx, 100*time.Millisecond) {
			return "", ctx.Err()
		}
	}
}

// brokerAddr returns host:port of a broker URL (default port 1883, or
// 8883 for ssl/tls/mqtts).
func brokerAddr(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("%w: broker url %q", ErrBadDrill, raw)
	}
	if u.Port() != "" {
		return u.Host, nil
	}
	port := "1883"
	switch u.Scheme {
	case "ssl", "tls", "mqtts", "tcps":
		port = "8883"
	}
	return net.JoinHostPort(u.Hostname(), port), nil
}

func (r *runner) pressure(ctx context.Context, op string) error {
	p := r.d.Site.Pressure
	cmd, key := p.Fill, "fill"
	if op == OpRelease {
		cmd, key = p.Release, "release"
	}
	if cmd == "" {
		return fmt.Errorf("spool pressure: %w (give site.spool_pressure.%s to allow it)", ErrNotConfigured, key)
	}
	return Commands{Name: "spool pressure", Log: r.cmdLog}.run(ctx, key, cmd)
}

// note records a phase of the run.
func (r *runner) note(op, detail string) {
	r.mu.Lock()
	r.events = append(r.events, Event{At: r.elapsed(), Time: time.Now().UTC(), Step: -1, Op: op, Detail: detail})
	r.mu.Unlock()
	line := "==> " + op
	if detail != "" {
		line += ": " + detail
	}
	r.println(line)
}

// recover leaves the site whole after the timeline: every link restored,
// the agent running. Each repair is recorded.
func (r *runner) recover(ctx context.Context) {
	r.mu.Lock()
	var broken []string
	for _, name := range sortedKeys(r.linkState) {
		if r.linkState[name] != "up" {
			broken = append(broken, name)
		}
	}
	r.mu.Unlock()
	for _, name := range broken {
		r.do(ctx, Action{At: r.elapsed(), Step: -1, Op: OpClear, Link: name})
	}
	if !r.probe.ready(ctx) {
		r.do(ctx, Action{At: r.elapsed(), Step: -1, Op: OpAgentStart})
	}
}
