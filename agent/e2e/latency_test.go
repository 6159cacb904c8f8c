package e2e

import (
	"fmt"
	"sync"
	"time"
)

// latencyLog is what the benchmarks' probes share: for the readings of the
// generators being measured, it records arrival time - event time (from
// the event time since on), counts the arrivals so that a run can wait for
// all of them, and counts what a probe could not decode.
type latencyLog struct {
	what string // the arrivals, for errors: "readings arrived", "points written"

	mu        sync.Mutex
	lo, hi    int   // generator indexes measured
	since     int64 // event time from which latencies count
	lat       []time.Duration
	got       uint64 // arrivals of the measured generators
	undecoded uint64
	changed   chan struct{}
}

func newLatencyLog(what string) *latencyLog {
	return &latencyLog{what: what, changed: make(chan struct{}, 1)}
}

// measure starts a new measurement of generators lo..hi.
func (l *latencyLog) measure(lo, hi int, since int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lo, l.hi, l.since, l.lat, l.got = lo, hi, since, nil, 0
}

// add records arrivals at at: each calls report once per arrival with its
// generator index and event time, or ok false for one it could not decode.
func (l *latencyLog) add(at time.Time, each func(report func(gen int, ev int64, ok bool))) {
	l.mu.Lock()
	each(func(gen int, ev int64, ok bool) {
		switch {
		case !ok:
			l.undecoded++
		case gen < l.lo || gen > l.hi:
		default:
			l.got++
			if ev >= l.since {
				l.lat = append(l.lat, at.Sub(time.Unix(0, ev)))
			}
		}
	})
	l.mu.Unlock()
	select {
	case l.changed <- struct{}{}:
	default:
	}
}

// waitFor waits until n arrivals of the measured generators were recorded.
func (l *latencyLog) waitFor(n uint64, timeout time.Duration) error {
	deadline := time.After(timeout)
	for {
		l.mu.Lock()
		got, bad := l.got, l.undecoded
		l.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-l.changed:
		case <-deadline:
			return fmt.Errorf("%d of %d %s within %v (%d undecodable)", got, n, l.what, timeout, bad)
		}
	}
}

// take returns the latencies recorded since the last take.
func (l *latencyLog) take() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	lat := l.lat
	l.lat = nil
	return lat
}
