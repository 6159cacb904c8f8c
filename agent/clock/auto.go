package clock

import (
	"sync"
	"time"
)

// Auto is a Fake clock for tests that never blocks: After moves it forward
// by d at once and fires, so code that sleeps runs through virtual time at
// full speed. It records every wait; Advance moves it without one. The zero
// value reads the zero time; safe for concurrent use.
type Auto struct {
	Fake
	mu    sync.Mutex // serialises After: each wait fires at its own end
	waits []time.Duration
}

// NewAuto returns an Auto clock reading t.
func NewAuto(t time.Time) *Auto {
	a := &Auto{}
	a.now = t
	return a
}

// After records d, moves the clock by d and returns a channel that has
// already received the new time.
func (a *Auto) After(d time.Duration) <-chan time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.waits = append(a.waits, d)
	a.Advance(max(d, 0))
	return a.Fake.After(0)
}

// Waits returns the durations passed to After, in order.
func (a *Auto) Waits() []time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]time.Duration(nil), a.waits...)
}
