package downsample

import (
	"slices"
	"time"
)

// Tick applies the wall clock: it closes the windows of silent generators
// (no reading for IdleGrace, and now past the window's end + Lateness +
// IdleGrace), closes windows older than the retention floor, and forgets
// generators that have nothing open and nothing newer than the floor.
// Generators are visited in ID order, so the output is deterministic.
//
// The caller should only Tick once it has offered every reading that has
// arrived so far (the engine ticks when it has caught up with the raw
// stream): ticking while a backlog is pending would close windows whose
// remaining readings are still unread.
func (w *Windower) Tick(now time.Time) {
	n := wall(now)
	w.raiseFloor(n)
	for _, id := range w.ids {
		g := w.gens[id]
		w.closeBefore(g, w.floor)
		w.closeIdle(g, n)
	}
	w.prune()
}

func (w *Windower) raiseFloor(now int64) {
	if w.o.Retention < 0 {
		return
	}
	if f := w.Start(max(now-int64(w.o.Retention), minTime)); f > w.floor {
		w.floor = f
	}
}

// closeIdle closes g's windows that the clock has passed, if g is silent.
func (w *Windower) closeIdle(g *gen, now int64) {
	if w.idle < 0 || len(g.open) == 0 || now-g.lastArrival <= w.idle {
		return
	}
	f := g.frontier
	for _, win := range g.open {
		end := win.start + w.window
		if end+w.late+w.idle >= now {
			break
		}
		f = end
	}
	w.closeBefore(g, f)
}

// prune forgets generators whose whole state is below the floor.
func (w *Windower) prune() {
	w.ids = slices.DeleteFunc(w.ids, func(id string) bool {
		g := w.gens[id]
		if len(g.open) > 0 || g.frontier > w.floor {
			return false
		}
		delete(w.gens, id)
		return true
	})
}

// Flush closes every open window, as if each generator's event time had
// moved past it. For the end of a finite stream (tests, tools); the engine
// never flushes, it rebuilds open windows after a restart instead.
func (w *Windower) Flush() {
	for _, id := range w.ids {
		g := w.gens[id]
		if k := len(g.open); k > 0 {
			w.closeBefore(g, g.open[k-1].start+w.window)
		}
	}
}

// Oldest returns the smallest arrival number (seq) of a reading that an
// open window still holds, and false when no window is open. Everything
// that arrived before it can be forgotten: replaying from it rebuilds every
// open window exactly, because each window needs only its latest reading.
func (w *Windower) Oldest() (uint64, bool) {
	var oldest uint64
	found := false
	for _, g := range w.gens {
		for _, win := range g.open {
			if !found || win.seq < oldest {
				oldest, found = win.seq, true
			}
		}
	}
	return oldest, found
}

// OpenWindows returns the number of open windows and of known generators.
func (w *Windower) OpenWindows() (windows, generators int) {
	for _, g := range w.gens {
		windows += len(g.open)
	}
	return windows, len(w.gens)
}
