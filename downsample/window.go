package downsample

import (
	"math"
	"slices"
	"time"

	"github.com/edgespool/edgespool/agent/model"
)

// Verdict says what Windower.Add did with a reading.
type Verdict uint8

const (
	// Accepted: the reading was offered to its open window.
	Accepted Verdict = iota
	// Late: the reading's window had already closed (or is older than the
	// retention); it is not emitted and does not reopen the window.
	Late
	// BadTime: the reading's event time is too far in the future or
	// outside the representable range; it is ignored.
	BadTime
)

// minTime and maxTime bound the event times Windower accepts, far inside
// int64 so that window arithmetic cannot overflow (about years 1824–2116).
const (
	minTime = -(1 << 62)
	maxTime = 1 << 62
)

// Windower is the pure window and alarm logic: per generator, aligned
// event-time windows; for each window the latest reading (ties on time: the
// later-arriving reading wins) becomes a model.Point with its alarm label. It does
// no I/O, starts no goroutines and reads no clock: the caller passes the
// arrival order (seq) and the wall clock (now). Not safe for concurrent use.
//
// A window [start, start+Window) of a generator closes when
//   - that generator's event time passes start+Window+Lateness (a reading
//     with a greater time arrives), or
//   - Tick is called with now past start+Window+Lateness+IdleGrace while no
//     reading of that generator arrived for IdleGrace (a stopped generator
//     still gets its last window emitted), or
//   - Tick moves the retention floor past it.
//
// Closing is per generator and in window order, so the closed windows of a
// generator are always those that start before its frontier. A reading
// whose window starts before the frontier is late: it is counted by the
// caller, never emitted, and does not reopen the window.
type Windower struct {
	o      Options
	window int64
	late   int64 // Lateness in ns, >= 0
	idle   int64 // IdleGrace in ns, < 0: off
	floor  int64 // windows starting before floor are closed for everyone
	gens   map[string]*gen
	ids    []string // sorted keys of gens, for deterministic output
	out    []model.Point
}

// gen is the state of one generator.
type gen struct {
	frontier    int64 // windows starting before frontier are closed
	maxTime     int64 // greatest event time accepted; valid if seen
	seen        bool
	lastArrival int64 // wall clock of the last accepted reading, ns
	open        []window
}

// window is an open window: its start and its latest reading so far.
type window struct {
	start int64
	best  model.Reading
	seq   uint64 // arrival order of best
}

// NewWindower returns a Windower for o (zero fields: defaults).
func NewWindower(o Options) (*Windower, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Windower{
		o:      o,
		window: int64(o.Window),
		late:   max(int64(o.Lateness), 0),
		idle:   int64(o.IdleGrace),
		floor:  math.MinInt64,
		gens:   make(map[string]*gen),
	}, nil
}

// Options returns the effective options (defaults filled in).
func (w *Windower) Options() Options { return w.o }

// Start returns the start of the window that holds event time t.
func (w *Windower) Start(t int64) int64 {
	m := t % w.window
	if m < 0 {
		m += w.window
	}
	return t - m
}

// Add offers reading r, which arrived as number seq (strictly increasing
// across calls) at wall clock now. Windows that r's event time closes are
// emitted; collect them with Take.
func (w *Windower) Add(r model.Reading, seq uint64, now time.Time) Verdict {
	if r.Time < minTime || r.Time > maxTime || w.tooNew(r.Time, now) {
		return BadTime
	}
	start := w.Start(r.Time)
	g := w.gens[r.GeneratorID]
	if start < w.floor || (g != nil && start < g.frontier) {
		return Late
	}
	if g == nil {
		g = w.newGen(r.GeneratorID, w.floor)
	}
	g.lastArrival = wall(now)
	g.offer(start, r, seq)
	if !g.seen || r.Time > g.maxTime {
		g.maxTime, g.seen = r.Time, true
		w.closeBefore(g, w.Start(r.Time-w.late-1))
	}
	return Accepted
}

func (w *Windower) tooNew(t int64, now time.Time) bool {
	return w.o.MaxFuture >= 0 && t-int64(w.o.MaxFuture) > wall(now)
}

// wall returns now in Unix ns, clamped so that arithmetic with durations up
// to maxDuration cannot overflow.
func wall(now time.Time) int64 {
	return min(max(now.UnixNano(), minTime), maxTime)
}

func (w *Windower) newGen(id string, frontier int64) *gen {
	g := &gen{frontier: frontier}
	w.gens[id] = g
	i, _ := slices.BinarySearch(w.ids, id)
	w.ids = slices.Insert(w.ids, i, id)
	return g
}

// offer puts r into the open window that starts at start, opening it if
// needed; r replaces the window's reading unless that one is newer.
func (g *gen) offer(start int64, r model.Reading, seq uint64) {
	i := len(g.open)
	for i > 0 && g.open[i-1].start > start {
		i--
	}
	if i > 0 && g.open[i-1].start == start {
		if b := &g.open[i-1]; r.Time >= b.best.Time {
			b.best, b.seq = r, seq
		}
		return
	}
	g.open = slices.Insert(g.open, i, window{start: start, best: r, seq: seq})
}

// closeBefore closes (emits) g's open windows that start before f and moves
// g's frontier to f.
func (w *Windower) closeBefore(g *gen, f int64) {
	if f <= g.frontier {
		return
	}
	g.frontier = f
	n := 0
	for n < len(g.open) && g.open[n].start < f {
		w.emit(g.open[n])
		n++
	}
	if n > 0 {
		g.open = slices.Delete(g.open, 0, n)
	}
}

func (w *Windower) emit(win window) {
	w.out = append(w.out, model.Point{
		Reading: win.best,
		Window:  win.start,
		Alarm:   label(w.o.Rules, w.o.DefaultLabel, win.best),
		Region:  w.o.Region,
	})
}

// Take appends the points emitted since the last Take to dst, in emission
// order, and returns it.
func (w *Windower) Take(dst []model.Point) []model.Point {
	dst = append(dst, w.out...)
	clear(w.out)
	w.out = w.out[:0]
	return dst
}
