package downsample

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/edgespool/edgespool/agent/model"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgespool/edgespool/agent/backoff"
	"github.com/edgespool/edgespool/agent/clock"
	"github.com/edgespool/edgespool/spool"
)

// Log is the part of the spool that the Engine uses; *spool.Spool
// satisfies it.
type Log interface {
	ReadFor(consumer, stream string, after uint64, max int) (spool.Batch, error)
	Cursor(consumer, stream string) (seq uint64, meta []byte, err error)
	Commit(consumer, stream string, ackSeq uint64, meta []byte, derived []spool.Record) error
	Notify(stream string) <-chan struct{}
}

// EngineOptions configure an Engine. The zero value means the defaults.
type EngineOptions struct {
	// Options are the window and alarm settings.
	Options
	// Consumer is the cursor name on the raw stream (required: the spool
	// must keep records for it, so the caller that configures the spool's
	// consumers names it).
	Consumer string
	// BatchSize is the largest number of raw records read and committed per
	// step (default 16384: fewer, larger commits mean fewer fsyncs and less
	// flash wear when the engine catches up with a backlog).
	BatchSize int
	// CommitInterval is how long a cursor move without finished windows may
	// wait to be committed, so that a trickle of readings does not cost a
	// spool transaction (two fsyncs) each (default 1s; negative: commit
	// every step). Finished windows are always committed at once.
	CommitInterval time.Duration
	// TickInterval is how often the wall clock is applied while no new
	// readings arrive, closing the windows of silent generators (default 1s).
	TickInterval time.Duration
	// RetryDelay is the first wait after a failed spool operation or alarm
	// publication, doubled while failures go on, up to MaxRetryDelay
	// (default 100ms; see package backoff).
	RetryDelay time.Duration
	// MaxRetryDelay caps the wait between retries (default 30s).
	MaxRetryDelay time.Duration
	// InputLive, when set, reports whether readings can arrive (the agent:
	// its MQTT session is up). While it reports false, and for IdleGrace
	// after it reports true again, the wall clock closes no window of a
	// silent generator: the silence is the link's, and devices resend what
	// queued meanwhile. nil: input is always live.
	InputLive func() bool
	// Publisher receives alarm state changes (nil: no local alarms).
	Publisher AlarmPublisher
	// PublishTimeout bounds one PublishAlarm call (default 5s).
	PublishTimeout time.Duration
	// Logger receives state changes (default: discard).
	Logger *slog.Logger
	// Registerer receives the metrics (nil: not registered).
	Registerer prometheus.Registerer
	// Clock is the wall clock of the idle window closing and the retry
	// waits (default the real clock).
	Clock clock.Clock
}

// ErrNoConsumer: EngineOptions.Consumer is empty.
var ErrNoConsumer = errors.New("downsample: no consumer name for the raw stream cursor")

func (o EngineOptions) withDefaults() (EngineOptions, error) {
	var err error
	if o.Options, err = o.Options.withDefaults(); err != nil {
		return o, err
	}
	if o.Consumer == "" {
		return o, ErrNoConsumer
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 16384
	}
	o.TickInterval = orDuration(o.TickInterval, time.Second)
	o.CommitInterval = orDuration(o.CommitInterval, time.Second)
	o.RetryDelay = orDuration(o.RetryDelay, 100*time.Millisecond)
	o.MaxRetryDelay = orDuration(o.MaxRetryDelay, 30*time.Second)
	o.PublishTimeout = orDuration(o.PublishTimeout, 5*time.Second)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Clock = clock.Or(o.Clock)
	return o, nil
}

// Engine runs the downsample on the spool: it reads the raw stream after
// its own cursor, feeds a Windower, and commits each step's finished
// windows to the downsampled stream together with its cursor and state, in
// one spool transaction. Alarms are published after that commit.
//
// Exactly once: the cursor only moves up to just before the oldest raw
// record that an open window still holds (a window needs only its latest
// reading), and the cursor's meta holds each generator's frontier (windows
// before it are closed) and the retention floor. After a crash or a failed
// commit the Engine restores the frontiers, re-reads from the cursor and so
// rebuilds exactly the windows that were open; readings of windows already
// emitted fall before a frontier and are skipped. There is no other state.
type Engine struct {
	log Log
	o   EngineOptions
	m   *metrics
	pub *publisher

	w          *Windower
	pos        uint64 // last raw seq processed
	acked      uint64 // durable cursor
	lastCommit time.Time
	counted    uint64    // readings up to here are already in the metrics
	inputDown  bool      // InputLive reported false at the last check
	inputBack  time.Time // when InputLive reported true again
	labels     map[string]string
	pts        []model.Point
	recs       []spool.Record
	meta       []byte
	running    sync.Mutex

	statusMu sync.Mutex
	status   Status
}

// Status is a snapshot of the Engine's progress, for status pages.
type Status struct {
	// Position is the last raw sequence number processed.
	Position uint64
	// Cursor is the durable cursor on the raw stream: a restart re-reads
	// the records after it.
	Cursor uint64
	// OpenWindows and Generators are the windows holding a reading and the
	// generators whose state is kept.
	OpenWindows, Generators int
	// Windows is the number of points committed by this process.
	Windows uint64
}

// Status returns a snapshot of the Engine's progress; safe for concurrent use.
func (e *Engine) Status() Status {
	e.statusMu.Lock()
	defer e.statusMu.Unlock()
	return e.status
}

// NewEngine returns an Engine on log. It checks the options and registers
// the metrics; Run does the work.
func NewEngine(log Log, o EngineOptions) (*Engine, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("downsample options: %w", err)
	}
	m, err := newMetrics(o.Registerer, alarmLabels(o.Options))
	if err != nil {
		return nil, err
	}
	e := &Engine{log: log, o: o, m: m, labels: map[string]string{}}
	if o.Publisher != nil {
		e.pub = newPublisher(o.Publisher, o, e.newBackoff(), m)
	}
	return e, nil
}

// Run downsamples until ctx ends, then returns nil. Spool errors are
// logged, counted and retried with backoff; Run returns an error only when
// the spool is closed underneath it. Run must not be called concurrently.
func (e *Engine) Run(ctx context.Context) error {
	e.running.Lock()
	defer e.running.Unlock()
	if e.pub != nil {
		// The publisher stops after the loop, so that it flushes the
		// alarms of the loop's last step too.
		pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		var wg sync.WaitGroup
		wg.Go(func() { e.pub.run(pctx) })
		defer wg.Wait()
		defer cancel()
	}
	r := retrier{e: e, bo: e.newBackoff()}
	if !r.do(ctx, "cursor", e.recover) {
		return r.err
	}
	return e.loop(ctx, &r)
}

func (e *Engine) loop(ctx context.Context, r *retrier) error {
	tick := time.NewTicker(e.o.TickInterval)
	defer tick.Stop()
	for ctx.Err() == nil {
		wake := e.log.Notify(model.StreamRaw)
		var idle bool
		if !r.do(ctx, "step", func() (err error) { idle, err = e.step(); return err }) {
			return r.err
		}
		if !idle {
			continue
		}
		select {
		case <-ctx.Done():
		case <-wake:
		case <-tick.C:
		}
	}
	return nil
}

func (e *Engine) newBackoff() *backoff.Backoff {
	return backoff.New(backoff.Options{Min: e.o.RetryDelay, Max: e.o.MaxRetryDelay, Clock: e.o.Clock})
}

var _ Log = (*spool.Spool)(nil)
