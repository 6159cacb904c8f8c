package uplink

import (
	"context"
	"math/rand/v2"
	"time"
)

// BackoffOptions configure the retry backoff of a forwarder: capped
// exponential with jitter. Zero values mean the defaults.
type BackoffOptions struct {
	Min time.Duration // first delay (default 100ms)
	Max time.Duration // cap of the exponential delay (default 30s)
	// MaxThrottle caps a server's Retry-After (default 10m), so that a
	// wrong header cannot stall a link for hours.
	MaxThrottle time.Duration
}

func (o BackoffOptions) withDefaults() BackoffOptions {
	setDefault(&o.Min, 100*time.Millisecond)
	setDefault(&o.Max, 30*time.Second)
	setDefault(&o.MaxThrottle, 10*time.Minute)
	o.Max = max(o.Max, o.Min)
	return o
}

// backoff computes and sleeps retry delays. After n consecutive failures
// the delay is Min·2ⁿ capped at Max, with jitter drawing it uniformly from
// its upper half, so that many agents recovering together do not retry in
// lockstep. A success resets it.
type backoff struct {
	o     BackoffOptions
	clk   Clock
	rnd   func() float64 // in [0,1)
	fails int
}

func newBackoff(o BackoffOptions, clk Clock) *backoff {
	return &backoff{o: o.withDefaults(), clk: clockOrReal(clk), rnd: rand.Float64}
}

// next returns the delay after one more failure. A positive hint (a
// server's Retry-After) replaces the exponential delay, up to MaxThrottle.
func (b *backoff) next(hint time.Duration) time.Duration {
	b.fails++
	if hint > 0 {
		return min(hint, b.o.MaxThrottle)
	}
	d := b.o.Min
	for i := 1; i < b.fails && d < b.o.Max; i++ {
		d *= 2
	}
	d = min(d, b.o.Max)
	half := d / 2
	return half + time.Duration(b.rnd()*float64(d-half))
}

// reset forgets the failures after a success.
func (b *backoff) reset() { b.fails = 0 }

// wait sleeps the delay of the next failure, or returns ctx.Err() as soon
// as ctx ends.
func (b *backoff) wait(ctx context.Context, hint time.Duration) error {
	return sleep(ctx, b.clk, b.next(hint))
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, clk Clock, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case <-clk.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
