package clock

import (
	"sync"
	"time"
)

// Auto is a Clock for tests that never blocks: After moves it forward by d
// at once and fires, so code that sleeps runs through virtual time at full
// speed. It records every wait. The zero value reads the zero time; safe
// for concurrent use.
type Auto struct {
	mu    sync.Mutex
	now   time.Time
	waits []time.Duration
}

// NewAuto returns an Auto clock reading t.
func NewAuto(t time.Time) *Auto { return &Auto{now: t} }

// Now returns the virtual time.
func (a *Auto) Now() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.now
}

// After records d, moves the clock by d and returns a channel that has
// already received the new time.
func (a *Auto) After(d time.Duration) <-chan time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.waits = append(a.waits, d)
	a.now = a.now.Add(max(d, 0))
	ch := make(chan time.Time, 1)
	ch <- a.now
	return ch
}

// Advance moves the clock by d without recording a wait.
func (a *Auto) Advance(d time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.now = a.now.Add(d)
}

// Waits returns the durations passed to After, in order.
func (a *Auto) Waits() []time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]time.Duration(nil), a.waits...)
}
