// Package backoff is the one retry delay of edgespool: exponential from
// Min, capped at Max, jittered, interruptible by a context, on an injected
// clock. It imports nothing of edgespool except the clock leaf package.
//
//	b := backoff.New(backoff.Options{Min: 100 * time.Millisecond, Max: 30 * time.Second})
//	for {
//		err := try()
//		if err == nil {
//			b.Reset()
//			break
//		}
//		if b.Wait(ctx) != nil {
//			return ctx.Err()
//		}
//	}
package backoff

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/edgespool/edgespool/agent/clock"
)

// Defaults of Options.
const (
	DefaultMin = 100 * time.Millisecond
	DefaultMax = 30 * time.Second
)

// Options configure a Backoff; the zero value means the defaults.
type Options struct {
	Min time.Duration // first delay (default 100ms)
	Max time.Duration // cap of the delay (default 30s; never below Min)
	// Clock waits the delays (default the real clock).
	Clock clock.Clock
	// Rand returns a number in [0,1) for the jitter (default math/rand/v2).
	Rand func() float64
}

// Backoff computes and waits retry delays. After n consecutive failures the
// delay is Min·2ⁿ⁻¹ capped at Max, drawn uniformly from its upper half so
// that many agents recovering together do not retry in lockstep. A Backoff
// is used by one goroutine.
type Backoff struct {
	o     Options
	fails int
}

// New returns a Backoff with o's settings.
func New(o Options) *Backoff {
	if o.Min <= 0 {
		o.Min = DefaultMin
	}
	if o.Max <= 0 {
		o.Max = DefaultMax
	}
	o.Max = max(o.Max, o.Min)
	o.Clock = clock.Or(o.Clock)
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	return &Backoff{o: o}
}

// Next counts one more failure and returns the delay to wait before the
// next attempt.
func (b *Backoff) Next() time.Duration {
	b.fails++
	d := b.o.Min
	for i := 1; i < b.fails && d < b.o.Max; i++ {
		d *= 2
	}
	d = min(d, b.o.Max)
	half := d / 2
	return half + time.Duration(b.o.Rand()*float64(d-half))
}

// Wait counts one more failure and sleeps its delay; it returns ctx.Err()
// as soon as ctx ends.
func (b *Backoff) Wait(ctx context.Context) error {
	return clock.Sleep(ctx, b.o.Clock, b.Next())
}

// Reset forgets the failures after a success.
func (b *Backoff) Reset() { b.fails = 0 }

// Failures is the number of consecutive failures since the last Reset.
func (b *Backoff) Failures() int { return b.fails }
