package demo

import (
	"fmt"
	"io"
	"time"

	"github.com/edgespool/edgespool/sim/fleet"
)

// statusLine prints one line of live counters.
func statusLine(w io.Writer, elapsed time.Duration, fs fleet.Stats, a Counters, cut bool) {
	link := "uplink up"
	if cut {
		link = "uplink CUT"
	}
	if a.Links != "" {
		link += " (" + a.Links + ")"
	}
	fmt.Fprintf(w, "%5.0fs  published %6d  acked %6d | spooled %6d  backlog %6d  forwarded %6d  alarms %4d | %s\n",
		elapsed.Seconds(), fs.Published, fs.Acked, a.Spooled, a.Backlog, a.Forwarded, a.Alarms, link)
}

// ticker calls fn every d until stop is called.
func ticker(d time.Duration, fn func()) (stop func()) {
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fn()
			}
		}
	}()
	return func() { close(done); <-finished }
}
