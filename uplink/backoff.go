package uplink

import (
	"time"

	"github.com/edgespool/edgespool/agent/backoff"
	"github.com/edgespool/edgespool/agent/clock"
)

// BackoffOptions configure the retry backoff of a forwarder: the capped,
// jittered exponential delay of package backoff, or a server's
// Retry-After. Zero values mean the defaults.
type BackoffOptions struct {
	Min time.Duration // first delay (default backoff.DefaultMin)
	Max time.Duration // cap of the exponential delay (default backoff.DefaultMax)
	// MaxThrottle caps a server's Retry-After (default 10m), so that a
	// wrong header cannot stall a link for hours.
	MaxThrottle time.Duration
}

func (o BackoffOptions) withDefaults() BackoffOptions {
	setDefault(&o.Min, backoff.DefaultMin)
	setDefault(&o.Max, backoff.DefaultMax)
	setDefault(&o.MaxThrottle, 10*time.Minute)
	o.Max = max(o.Max, o.Min)
	return o
}

// retryBackoff is a backoff.Backoff that also honours a server's
// Retry-After hint.
type retryBackoff struct {
	*backoff.Backoff
	maxThrottle time.Duration
}

// newBackoff returns the backoff of o on clk; rnd is the jitter source
// (nil: the default of package backoff).
func newBackoff(o BackoffOptions, clk clock.Clock, rnd func() float64) *retryBackoff {
	o = o.withDefaults()
	b := backoff.New(backoff.Options{Min: o.Min, Max: o.Max, Clock: clk, Rand: rnd})
	return &retryBackoff{Backoff: b, maxThrottle: o.MaxThrottle}
}

// next counts one more failure and returns the delay before the next
// attempt. A positive hint (a server's Retry-After) replaces the
// exponential delay, up to MaxThrottle.
func (b *retryBackoff) next(hint time.Duration) time.Duration {
	d := b.Next()
	if hint > 0 {
		return min(hint, b.maxThrottle)
	}
	return d
}
