package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/edgespool/edgespool/agent/clock"
	"github.com/edgespool/edgespool/agent/sdnotify"
)

// Notifier tells the service manager about the agent's state;
// *sdnotify.Notifier is the systemd one.
type Notifier interface {
	Notify(state string) error
	// WatchdogInterval is how often the manager expects WATCHDOG=1 at
	// the latest (0: no watchdog).
	WatchdogInterval() time.Duration
}

// States sent to the Notifier.
const (
	StateReady    = sdnotify.Ready
	StateStopping = sdnotify.Stopping
	StateWatchdog = sdnotify.Watchdog
)

type nopNotifier struct{}

func (nopNotifier) Notify(string) error             { return nil }
func (nopNotifier) WatchdogInterval() time.Duration { return 0 }

// Timings of the supervisor.
const (
	// readyPoll is how often readiness is checked until the first READY.
	readyPoll = 50 * time.Millisecond
	// readyGrace: READY is sent after this even while the broker is still
	// unreachable, so that a broker down at boot does not make systemd
	// kill the agent (and its uplinks) at the start timeout.
	readyGrace = 45 * time.Second
	// healthTimeout bounds one health probe.
	healthTimeout = 5 * time.Second
)

func (a *Agent) notify(state string) {
	if err := a.notifier.Notify(state); err != nil {
		a.log.Warn("service manager notification failed", "state", state, "err", err)
	}
}

// superviseStage tells the service manager when the agent is ready and,
// with a watchdog, keeps telling it the agent is healthy.
func (a *Agent) superviseStage() ([]named, error) {
	return []named{{"supervisor", RunFunc(a.supervise)}}, nil
}

func (a *Agent) supervise(ctx context.Context) error {
	if err := a.waitReady(ctx); err != nil {
		return nil
	}
	every := a.notifier.WatchdogInterval() / 2
	if every <= 0 {
		return nil
	}
	h := &health{a: a}
	for {
		if clock.Sleep(ctx, a.clk, every) != nil {
			return nil
		}
		if err := h.check(ctx); err != nil {
			if h.failing++; h.failing == 1 {
				a.log.Error("health check failed; the service manager watchdog is not fed", "err", err)
			}
			continue
		}
		if h.failing > 0 {
			a.log.Info("health check passes again", "failed_checks", h.failing)
			h.failing = 0
		}
		a.notify(StateWatchdog)
	}
}

// waitReady sends READY=1 once the spool is open and MQTT is subscribed,
// or after readyGrace with a status line saying what is missing.
func (a *Agent) waitReady(ctx context.Context) error {
	grace := a.clk.Now().Add(readyGrace)
	for {
		err := a.Ready()
		if err == nil {
			a.notify(StateReady + "\n" + sdnotify.Status("ready"))
			return nil
		}
		if !a.clk.Now().Before(grace) {
			a.log.Warn("not ready yet; telling the service manager the agent started", "err", err)
			a.notify(StateReady + "\n" + sdnotify.Status("started, "+err.Error()))
			return nil
		}
		if err := clock.Sleep(ctx, a.clk, readyPoll); err != nil {
			return err
		}
	}
}

// health is the agent's own liveness: the spool's commit loop made
// progress or has nothing waiting for it, and the parts answer.
type health struct {
	a           *Agent
	lastCommits float64
	stalled     bool // messages were waiting at the last check with no commit
	failing     int
}

var errUnresponsive = errors.New("agent state did not answer in time")

func (h *health) check(ctx context.Context) error {
	done := make(chan Status, 1)
	go func() { done <- h.a.Status() }()
	var st Status
	select {
	case st = <-done:
	case <-h.a.clk.After(healthTimeout):
		return errUnresponsive
	case <-ctx.Done():
		return nil
	}
	// A full spool refusing records (reject_new) is not stuck either.
	commits, err := h.a.counterSum("edgespool_spool_commits_total", "edgespool_spool_rejected_records_total")
	if err != nil {
		return err
	}
	inflight := st.MQTT.Inflight
	if st.Broker != nil {
		inflight = st.Broker.Inflight
	}
	waiting := inflight > 0
	progress := commits > h.lastCommits
	stuck := waiting && !progress && h.stalled
	h.stalled = waiting && !progress
	h.lastCommits = commits
	if stuck {
		return fmt.Errorf("spool commit loop stuck: %d messages waiting, no commit since the last check", inflight)
	}
	return nil
}

// counterSum adds up the counters of the agent's registry named names,
// every label set included.
func (a *Agent) counterSum(names ...string) (float64, error) {
	fams, err := a.reg.Gather()
	if err != nil {
		return 0, fmt.Errorf("gather metrics: %w", err)
	}
	var sum float64
	for _, f := range fams {
		if !slices.Contains(names, f.GetName()) {
			continue
		}
		for _, m := range f.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum, nil
}
