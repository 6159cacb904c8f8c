package uplink

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/edgespool/edgespool/agent/clock"
)

// LinkState is the state of the link to one sink.
type LinkState int

const (
	LinkUp       LinkState = iota // the last send succeeded (or none failed yet)
	LinkRetrying                  // sends fail; retrying with backoff
	LinkDown                      // failing for DownAfter or longer
)

var linkStateNames = [...]string{"up", "retrying", "down"}

func (s LinkState) String() string {
	if s < 0 || int(s) >= len(linkStateNames) {
		return fmt.Sprintf("linkstate(%d)", int(s))
	}
	return linkStateNames[s]
}

// MarshalText renders the state by name in /status JSON.
func (s LinkState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses a state name, so that clients of /status (such as
// `edgespool status`) can decode what MarshalText wrote.
func (s *LinkState) UnmarshalText(b []byte) error {
	for i, name := range linkStateNames {
		if string(b) == name {
			*s = LinkState(i)
			return nil
		}
	}
	return fmt.Errorf("unknown link state %q", b)
}

// DefaultProbeInterval is LinkOptions.ProbeInterval's default.
const DefaultProbeInterval = time.Second

// LinkOptions configure a Link. Zero values mean the defaults.
type LinkOptions struct {
	// DownAfter is how long sends must keep failing before the link counts
	// as down (default 10s); before that it is retrying.
	DownAfter time.Duration
	// ProbeInterval is how often a link whose server cannot be connected
	// to is probed with a bare TCP connection (default 1s; negative: never,
	// retries then wait for the whole backoff). A probe that connects ends
	// the backoff: the failed batch is sent again at once. Each probe costs
	// a TCP handshake and close, a few hundred bytes on the wire.
	ProbeInterval time.Duration
	Logger        *slog.Logger
	Metrics       *Metrics
	Clock         clock.Clock
}

// LinkStatus is a snapshot of a Link for /status.
type LinkStatus struct {
	Sink  string    `json:"sink"`
	State LinkState `json:"state"`
	// Failures counts consecutive failed sends; FailingSince is the first
	// of them (zero when up).
	Failures     int       `json:"failures"`
	FailingSince time.Time `json:"failing_since,omitzero"`
	LastError    string    `json:"last_error,omitempty"`
	LastErrorAt  time.Time `json:"last_error_at,omitzero"`
}

// Link is the shared state of every forwarder of one sink: the link state,
// logged once per change, and the drain order (forwarders marked Priority
// drain first). Safe for concurrent use.
type Link struct {
	name string
	o    LinkOptions
	clk  clock.Clock
	log  *slog.Logger
	m    *Metrics

	mu      sync.Mutex
	st      LinkStatus
	prio    map[*Forwarder]prioState
	changed chan struct{} // closed and replaced when prio changes
	prober  Prober        // nil: no probing

	probeMu  sync.Mutex // serialises probes; guards the last result
	probedAt time.Time
	probeOK  bool
}

type prioState struct{ backlog, failing bool }

// NewLink returns the link of the sink called name, up.
func NewLink(name string, o LinkOptions) *Link {
	setDefault(&o.DownAfter, 10*time.Second)
	setDefault(&o.ProbeInterval, DefaultProbeInterval)
	l := &Link{name: name, o: o, clk: clock.Or(o.Clock), log: o.Logger, m: o.Metrics,
		prio: map[*Forwarder]prioState{}, changed: make(chan struct{})}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if l.m == nil {
		l.m = NewMetrics(nil)
	}
	l.st.Sink = name
	l.m.setLinkState(name, LinkUp)
	l.m.initProbes(name)
	return l
}

// Name returns the sink name.
func (l *Link) Name() string { return l.name }

// Status returns a snapshot of the link.
func (l *Link) Status() LinkStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st
}

// success records a send the sink accepted (or rejected for its content:
// the link itself works).
func (l *Link) success() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.st.State == LinkUp {
		return
	}
	now := l.clk.Now()
	l.log.Info("link recovered", "sink", l.name, "failures", l.st.Failures,
		"failing_for", now.Sub(l.st.FailingSince).Round(time.Second).String())
	l.st.State, l.st.Failures, l.st.FailingSince = LinkUp, 0, time.Time{}
	l.m.setLinkState(l.name, LinkUp)
}

// failure records a failed send; it logs when the state changes.
func (l *Link) failure(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clk.Now()
	l.st.Failures++
	l.st.LastError, l.st.LastErrorAt = err.Error(), now
	if l.st.State == LinkUp {
		l.st.State, l.st.FailingSince = LinkRetrying, now
		l.log.Info("link retrying", "sink", l.name, "err", err)
	}
	if l.st.State == LinkRetrying && now.Sub(l.st.FailingSince) >= l.o.DownAfter {
		l.st.State = LinkDown
		l.log.Warn("link down", "sink", l.name, "failures", l.st.Failures, "err", err)
	}
	l.m.setLinkState(l.name, l.st.State)
}

// rejected records an error about the data (not the link) for /status.
func (l *Link) rejected(err error) {
	l.mu.Lock()
	l.st.LastError, l.st.LastErrorAt = err.Error(), l.clk.Now()
	l.mu.Unlock()
	l.success()
}

// setPriority records whether the priority forwarder f has a backlog and
// whether it is failing; the other forwarders of the link wait while a
// priority forwarder has a backlog and makes progress.
func (l *Link) setPriority(f *Forwarder, s prioState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if old, ok := l.prio[f]; ok && old == s {
		return
	}
	l.prio[f] = s
	close(l.changed)
	l.changed = make(chan struct{})
}

// leavePriority removes f (its Run ended).
func (l *Link) leavePriority(f *Forwarder) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.prio, f)
	close(l.changed)
	l.changed = make(chan struct{})
}

// waitPriority blocks while a priority forwarder drains its backlog.
func (l *Link) waitPriority(ctx context.Context) error {
	for {
		l.mu.Lock()
		blocked := false
		for _, s := range l.prio {
			blocked = blocked || (s.backlog && !s.failing)
		}
		ch := l.changed
		l.mu.Unlock()
		if !blocked {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
