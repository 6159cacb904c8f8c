package intake

import (
	"math/rand/v2"
	"time"
)

// backoff is a capped exponential delay with ±20% jitter.
type backoff struct {
	min, max time.Duration
	n        int
}

func (b *backoff) next() time.Duration {
	d := b.min << min(b.n, 30)
	if d > b.max || d <= 0 {
		d = b.max
	} else {
		b.n++
	}
	j := time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	return j
}

func (b *backoff) reset() { b.n = 0 }
