package uplink

import "time"

// Clock is the time source of backoffs, rate limits and link state;
// tests inject a fake one. The zero Options use the real clock.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

func clockOrReal(c Clock) Clock {
	if c == nil {
		return realClock{}
	}
	return c
}
