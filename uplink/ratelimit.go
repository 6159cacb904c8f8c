package uplink

import (
	"context"
	"sync"
	"time"

	"github.com/edgespool/edgespool/agent/clock"
)

// rateLimiter is a token bucket in bytes that may go into debt: a sender
// takes all the bytes it needs at once and then waits until the bucket
// has refilled the deficit. So a batch larger than the burst still goes
// out, and the long-run rate stays at the cap.
type rateLimiter struct {
	rate  float64 // bytes per second
	burst float64
	clk   clock.Clock

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// newRateLimiter returns a limiter of bytesPerSec with one second of
// burst, or nil (no limit) when bytesPerSec <= 0.
func newRateLimiter(bytesPerSec int64, clk clock.Clock) *rateLimiter {
	if bytesPerSec <= 0 {
		return nil
	}
	clk = clock.Or(clk)
	l := &rateLimiter{rate: float64(bytesPerSec), burst: float64(bytesPerSec), clk: clk}
	l.tokens = l.burst
	l.last = l.clk.Now()
	return l
}

// wait takes n bytes from the bucket and blocks until they are paid for
// or ctx ends. A nil limiter never waits.
func (l *rateLimiter) wait(ctx context.Context, n int) error {
	if l == nil || n <= 0 {
		return nil
	}
	l.mu.Lock()
	now := l.clk.Now()
	l.tokens += now.Sub(l.last).Seconds() * l.rate
	if l.tokens > l.burst {
		l.tokens = l.burst
	}
	l.last = now
	l.tokens -= float64(n)
	deficit := -l.tokens
	l.mu.Unlock()
	if deficit <= 0 {
		return nil
	}
	return clock.Sleep(ctx, l.clk, time.Duration(deficit/l.rate*float64(time.Second)))
}
