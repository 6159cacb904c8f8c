package uplink

import (
	"context"
	"sync"
	"time"
)

// rateLimiter is a token bucket in bytes that may go into debt: a sender
// takes all the bytes it needs at once and then waits until the bucket
// has refilled the deficit. So a batch larger than the burst still goes
// out, and the long-run rate stays at the cap.
type rateLimiter struct {
	rate  float64 // bytes per second
	burst float64
	now   func() time.Time
	after func(time.Duration) <-chan time.Time

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// newRateLimiter returns a limiter of bytesPerSec with one second of
// burst, or nil (no limit) when bytesPerSec <= 0.
func newRateLimiter(bytesPerSec int64, clk Clock) *rateLimiter {
	if bytesPerSec <= 0 {
		return nil
	}
	clk = clockOrReal(clk)
	l := &rateLimiter{rate: float64(bytesPerSec), burst: float64(bytesPerSec), now: clk.Now, after: clk.After}
	l.tokens = l.burst
	l.last = l.now()
	return l
}

// wait takes n bytes from the bucket and blocks until they are paid for
// or ctx ends. A nil limiter never waits.
func (l *rateLimiter) wait(ctx context.Context, n int) error {
	if l == nil || n <= 0 {
		return nil
	}
	l.mu.Lock()
	now := l.now()
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
	select {
	case <-l.after(time.Duration(deficit / l.rate * float64(time.Second))):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
