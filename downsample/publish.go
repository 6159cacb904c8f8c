package downsample

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/edgespool/edgespool/agent/backoff"
	"github.com/edgespool/edgespool/agent/clock"
)

// Alarm is the alarm state of one generator, published on site when it
// changes (and for each generator's first point after the engine starts).
type Alarm struct {
	GeneratorID string
	// Label is the new alarm label ("refuel" or "no action" by default).
	Label string
	// Previous is the label published before, "" for the first after start.
	Previous string
	// Fuel, Time and Window come from the point that carried the new state:
	// its reading's fuel and event time, and the start of its window.
	Fuel   int64
	Time   time.Time
	Window time.Time
	Region string
}

// AlarmPublisher delivers alarms on site, for example as a retained MQTT
// message on emergency_generator/<generatorID>/alarm. It is called from one
// goroutine of the Engine, after the point that carries the alarm has been
// committed; a slow or failing publisher never holds back downsampling.
type AlarmPublisher interface {
	PublishAlarm(ctx context.Context, a Alarm) error
}

// publisher hands alarms to an AlarmPublisher from its own goroutine. It
// keeps only the newest pending alarm per generator (a retained message
// carries state, not history) and retries a failed one until it succeeds
// or a newer state replaces it.
type publisher struct {
	pub      AlarmPublisher
	timeout  time.Duration
	clk      clock.Clock
	bo       *backoff.Backoff // between failed rounds
	log      *slog.Logger
	m        *metrics
	failures int // consecutive failed publications

	mu      sync.Mutex
	pending map[string]Alarm
	wake    chan struct{}
}

func newPublisher(p AlarmPublisher, o EngineOptions, bo *backoff.Backoff, m *metrics) *publisher {
	return &publisher{pub: p, timeout: o.PublishTimeout, clk: o.Clock, bo: bo,
		log: o.Logger, m: m, pending: map[string]Alarm{}, wake: make(chan struct{}, 1)}
}

// enqueue queues a; it never blocks.
func (p *publisher) enqueue(a Alarm) {
	p.mu.Lock()
	if _, ok := p.pending[a.GeneratorID]; ok {
		p.m.superseded.Inc()
	}
	p.pending[a.GeneratorID] = a
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// run publishes until ctx ends, then flushes.
func (p *publisher) run(ctx context.Context) {
	defer p.flush()
	var retry <-chan time.Time // nil while nothing failed
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		case <-retry:
		}
		if p.drain(ctx) {
			retry = p.clk.After(p.bo.Next())
		} else {
			retry = nil
			p.bo.Reset()
		}
	}
}

// maxFlush bounds flush, whatever the publish timeout.
const maxFlush = 2 * time.Second

// flush makes one last attempt at the alarms still pending when the
// engine stops, within one publish timeout (at most maxFlush), so that a
// clean shutdown leaves the broker's retained alarm state current (the
// agent closes its MQTT session only after the engine stopped). What still
// fails is counted and logged: after the next start the engine publishes
// each generator's state again with its first finished window.
func (p *publisher) flush() {
	ctx, cancel := context.WithTimeout(context.Background(), min(p.timeout, maxFlush))
	defer cancel()
	p.drain(ctx)
	p.mu.Lock()
	left := len(p.pending)
	p.mu.Unlock()
	if left > 0 {
		p.m.unpublished.Add(float64(left))
		p.log.Warn("downsample: alarms not published before stop; each is published again with its generator's next window",
			"alarms", left)
	}
}

// drain publishes every pending alarm once; it reports whether any failed
// (those stay pending unless a newer one arrived meanwhile).
func (p *publisher) drain(ctx context.Context) (failed bool) {
	p.mu.Lock()
	batch := p.pending
	p.pending = make(map[string]Alarm, len(batch))
	p.mu.Unlock()
	for _, a := range batch {
		if ctx.Err() != nil {
			p.requeue(a) // not attempted: still pending
			continue
		}
		err := p.publish(ctx, a)
		p.note(a, err)
		if err != nil {
			failed = true
			p.requeue(a)
		}
	}
	return failed
}

// note counts a publication's outcome and logs the first failure and the
// recovery once each, not every retry.
func (p *publisher) note(a Alarm, err error) {
	switch {
	case err != nil:
		p.m.publishErrors.Inc()
		if p.failures++; p.failures == 1 {
			p.log.Warn("downsample: alarm publish failed, retrying", "generator", a.GeneratorID, "label", a.Label, "err", err)
		}
	case p.failures > 0:
		p.log.Info("downsample: alarm publishing recovered", "failures", p.failures)
		p.failures = 0
	}
}

func (p *publisher) publish(ctx context.Context, a Alarm) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	return p.pub.PublishAlarm(ctx, a)
}

// requeue puts a failed alarm back unless a newer one is pending.
func (p *publisher) requeue(a Alarm) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, newer := p.pending[a.GeneratorID]; !newer {
		p.pending[a.GeneratorID] = a
	}
}
