package fleet

import (
	"context"
	"time"

	"github.com/edgespool/edgespool/agent/clock"
)

// DefaultMaxLag is how far a Pacer may fall behind its schedule before it
// gives up catching up and starts a new schedule from now.
const DefaultMaxLag = time.Second

// Pacer yields ticks at a fixed rate on a Clock. Ticks are scheduled at
// start + n/rate, so the long-run rate is exact whatever the sleep
// granularity: a late tick is followed by ticks without sleeping until the
// schedule is met again. When the lag exceeds MaxLag (the publisher was
// blocked, e.g. by a broker outage), the schedule restarts from now and the
// ticks given up are counted in Skipped rather than sent in one burst.
type Pacer struct {
	Rate   float64       // ticks per second, > 0
	Clock  clock.Clock   // nil: the real clock
	MaxLag time.Duration // zero: DefaultMaxLag
	// Align, when set, delays each sleep's end to the next multiple of
	// Align on the clock, so that Pacers sharing a clock wake together
	// (their ticks then leave in bursts; the long-run rate is unchanged).
	Align time.Duration

	start   time.Time
	n       int64
	skipped uint64
}

// Skipped returns the number of ticks given up because of lag.
func (p *Pacer) Skipped() uint64 { return p.skipped }

// Wait blocks until the next tick is due and returns the clock's time then.
func (p *Pacer) Wait(ctx context.Context) (time.Time, error) {
	now := clock.Or(p.Clock).Now()
	if p.start.IsZero() {
		p.start = now
	}
	due := p.start.Add(time.Duration(float64(p.n) * float64(time.Second) / p.Rate))
	if now.Before(due) {
		if err := clock.Sleep(ctx, p.Clock, p.aligned(due).Sub(now)); err != nil {
			return time.Time{}, err
		}
		now = clock.Or(p.Clock).Now()
	} else if lag := now.Sub(due); lag > p.maxLag() {
		p.skipped += uint64(lag.Seconds() * p.Rate)
		p.start, p.n = now, 0
	}
	p.n++
	return now, ctx.Err()
}

// aligned returns t, or with Align the next multiple of Align at or after t.
func (p *Pacer) aligned(t time.Time) time.Time {
	if p.Align <= 0 {
		return t
	}
	if a := t.Truncate(p.Align); a.Before(t) {
		return a.Add(p.Align)
	}
	return t
}

func (p *Pacer) maxLag() time.Duration {
	if p.MaxLag > 0 {
		return p.MaxLag
	}
	return DefaultMaxLag
}
