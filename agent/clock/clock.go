// Package clock is the time source of every edgespool component: the real
// clock in production, a Fake one that tests move by hand and an Auto one
// that moves itself by every wait. It imports
// nothing of edgespool, so any package (spool, uplink, downsample, the
// simulator) can take a Clock in its Options; a nil Clock means Real.
package clock

import (
	"context"
	"sync"
	"time"
)

// Clock tells the time and wakes after a delay.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives the time once d has passed.
	After(d time.Duration) <-chan time.Time
}

// Real is the wall clock.
type Real struct{}

// Now is time.Now.
func (Real) Now() time.Time { return time.Now() }

// After is time.After.
func (Real) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Or returns c, or Real when c is nil.
func Or(c Clock) Clock {
	if c == nil {
		return Real{}
	}
	return c
}

// Sleep waits d on c, or returns ctx.Err() as soon as ctx ends.
func Sleep(ctx context.Context, c Clock, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d <= 0 {
		return nil
	}
	c = Or(c)
	if _, ok := c.(Real); ok {
		return sleepReal(ctx, d)
	}
	select {
	case <-c.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sleepTimers recycles the timers of Sleep on the real clock: a simulated
// fleet sleeps once per reading.
var sleepTimers = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}}

func sleepReal(ctx context.Context, d time.Duration) error {
	t := sleepTimers.Get().(*time.Timer)
	t.Reset(d) // since Go 1.23 a stopped timer's channel holds no stale tick
	defer func() {
		t.Stop()
		sleepTimers.Put(t)
	}()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Fake is a Clock that only moves when Advance is called; safe for
// concurrent use.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
	added   chan struct{}
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

// NewFake returns a Fake clock reading t.
func NewFake(t time.Time) *Fake { return &Fake{now: t, added: make(chan struct{}, 1)} }

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// After returns a channel that fires once Advance passes now+d.
func (f *Fake) After(d time.Duration) <-chan time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- f.now
		return ch
	}
	f.waiters = append(f.waiters, waiter{at: f.now.Add(d), ch: ch})
	select {
	case f.added <- struct{}{}:
	default:
	}
	return ch
}

// Advance moves the clock by d and fires the waiters that are due.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	kept := f.waiters[:0]
	for _, w := range f.waiters {
		if w.at.After(f.now) {
			kept = append(kept, w)
			continue
		}
		w.ch <- f.now
	}
	f.waiters = kept
}

// Waiters is the number of After channels not fired yet.
func (f *Fake) Waiters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waiters)
}

// WaitForWaiters blocks until at least n After channels are pending or ctx
// ends; tests use it to advance only once the code under test sleeps.
func (f *Fake) WaitForWaiters(ctx context.Context, n int) error {
	for f.Waiters() < n {
		select {
		case <-f.added:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
