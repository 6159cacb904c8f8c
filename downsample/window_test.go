package downsample

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent/model"
)

// t0 is a minute boundary; test times are offsets from it.
var t0 = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) int64 { return t0.Add(d).UnixNano() }

func sec(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// op is one step of a window test: a reading that arrives at wall clock
// arrive (default: its own event time), or a Tick, or a Flush.
type op struct {
	gen    string
	t      time.Duration
	fuel   int64
	arrive time.Duration
	tick   bool
	flush  bool
	want   Verdict
}

func in(gen string, t float64, fuel int64) op {
	return op{gen: gen, t: sec(t), fuel: fuel, arrive: sec(t)}
}

func inAt(gen string, t float64, fuel int64, arrive float64) op {
	o := in(gen, t, fuel)
	o.arrive = sec(arrive)
	return o
}

func (o op) late() op { o.want = Late; return o }
func (o op) bad() op  { o.want = BadTime; return o }

func tick(now float64) op { return op{tick: true, arrive: sec(now)} }
func flush() op           { return op{flush: true} }

// out is an expected point: generator, window start, reading time, fuel, alarm.
func out(gen string, window, t float64, fuel int64, alarm string) string {
	return fmt.Sprintf("%s w=%v t=%v fuel=%d %s", gen, sec(window), sec(t), fuel, alarm)
}

func describe(p model.Point) string {
	return fmt.Sprintf("%s w=%v t=%v fuel=%d %s", p.GeneratorID, time.Duration(p.Window-t0.UnixNano()),
		time.Duration(p.Time-t0.UnixNano()), p.Fuel, p.Alarm)
}

// reading builds a model.Reading whose other fields derive from fuel, so that a
// point carrying the wrong reading's fields is noticed.
func reading(gen string, t int64, fuel int64) model.Reading {
	return model.Reading{GeneratorID: gen, Time: t, Fuel: fuel, Load: fuel % 101, Power: fuel * 2,
		Temperature: 150 + fuel%50, Lat: float64(fuel) / 7, Lon: -float64(fuel) / 3}
}

func run(t *testing.T, w *Windower, ops []op) []model.Point {
	t.Helper()
	var pts []model.Point
	for i, o := range ops {
		switch {
		case o.tick:
			w.Tick(t0.Add(o.arrive))
		case o.flush:
			w.Flush()
		default:
			r := reading(o.gen, at(o.t), o.fuel)
			if got := w.Add(r, uint64(i+1), t0.Add(o.arrive)); got != o.want {
				t.Errorf("step %d (%s at %v): verdict %d, want %d", i, o.gen, o.t, got, o.want)
			}
		}
		pts = w.Take(pts)
	}
	return pts
}

func TestWindows(t *testing.T) {
	cases := []struct {
		name string
		opts Options
		ops  []op
		want []string
	}{
		{"latest of the window, closed by a later reading", Options{},
			[]op{in("g", 0, 900), in("g", 10, 890), in("g", 59.999, 880), in("g", 66, 870)},
			[]string{out("g", 0, 59.999, 880, "no action")}},
		{"window edges: :60 starts the next window", Options{},
			[]op{in("g", 59.999999999, 700), in("g", 60, 600), flush()},
			[]string{out("g", 0, 59.999999999, 700, "no action"), out("g", 60, 60, 600, "no action")}},
		{"lateness: end+5s exactly does not close", Options{},
			[]op{in("g", 50, 700), in("g", 65, 600), in("g", 59, 650), in("g", 65.000000001, 500), in("g", 30, 1).late()},
			[]string{out("g", 0, 59, 650, "no action")}},
		{"strict < 500", Options{},
			[]op{in("a", 1, 500), in("b", 1, 499), in("c", 1, -3), in("d", 1, 0), flush()},
			[]string{out("a", 0, 1, 500, "no action"), out("b", 0, 1, 499, "refuel"),
				out("c", 0, 1, -3, "refuel"), out("d", 0, 1, 0, "refuel")}},
		{"ties on time: later arrival wins", Options{},
			[]op{in("g", 30, 600), in("g", 30, 400), in("g", 20, 900), flush()},
			[]string{out("g", 0, 30, 400, "refuel")}},
		{"tie after a newer reading still wins", Options{},
			[]op{in("g", 40, 600), in("g", 40, 900), in("g", 40, 450), flush()},
			[]string{out("g", 0, 40, 450, "refuel")}},
		{"out of order within a window", Options{},
			[]op{in("g", 40, 600), in("g", 10, 300), in("g", 30, 200), in("g", 80, 100)},
			[]string{out("g", 0, 40, 600, "no action")}},
		{"late reading is not emitted and does not reopen", Options{},
			[]op{in("g", 50, 700), in("g", 70, 600), in("g", 55, 100).late(), in("g", 59, 100).late(),
				in("g", 130, 500), flush()},
			[]string{out("g", 0, 50, 700, "no action"), out("g", 60, 70, 600, "no action"),
				out("g", 120, 130, 500, "no action")}},
		{"late for a window that never had a reading", Options{},
			[]op{in("g", 200, 700), in("g", 100, 600).late(), in("g", 120, 600).late(), flush()},
			[]string{out("g", 180, 200, 700, "no action")}},
		{"silent generator emits nothing", Options{},
			[]op{in("a", 1, 900), in("b", 2, 800), in("a", 61, 890), in("a", 121, 880), in("b", 3, 700), flush()},
			[]string{out("a", 0, 1, 900, "no action"), out("a", 60, 61, 890, "no action"),
				out("a", 120, 121, 880, "no action"), out("b", 0, 3, 700, "no action")}},
		{"stopped generator closed by clock", Options{},
			[]op{in("g", 10, 900), in("g", 20, 400), tick(95), tick(95.000000001), tick(500)},
			[]string{out("g", 0, 20, 400, "refuel")}},
		{"clock close waits for silence (lagging device clock)", Options{},
			[]op{inAt("g", 0, 900, 600), tick(605), inAt("g", 20, 800, 620), tick(649), inAt("g", 50, 700, 650),
				tick(679), tick(680.5), inAt("g", 55, 1, 681).late()},
			[]string{out("g", 0, 50, 700, "no action")}},
		{"clock close waits for the window's end (slow generator)", Options{},
			[]op{in("g", 0, 900), tick(40), tick(94), in("g", 45, 800), tick(140.5), in("g", 59, 1).late()},
			[]string{out("g", 0, 45, 800, "no action")}},
		{"clock close is per generator", Options{},
			[]op{in("a", 10, 900), in("b", 10, 900), in("b", 70, 800), in("b", 95.5, 700), tick(96),
				in("a", 30, 1).late(), in("b", 90, 600)},
			[]string{out("b", 0, 10, 900, "no action"), out("a", 0, 10, 900, "no action")}},
		{"idle close off", Options{IdleGrace: -1},
			[]op{in("g", 10, 900), tick(10000)}, nil},
		{"large lateness keeps several windows open", Options{Lateness: 90 * time.Second},
			[]op{in("g", 10, 900), in("g", 70, 800), in("g", 130, 700), in("g", 20, 600), in("g", 150, 500),
				in("g", 150.001, 400), in("g", 30, 1).late(), in("g", 119, 300), in("g", 211, 200),
				in("g", 179, 100), in("g", 270, 900), in("g", 270.001, 800)},
			[]string{out("g", 0, 20, 600, "no action"), out("g", 60, 119, 300, "refuel"),
				out("g", 120, 179, 100, "refuel")}},
		{"no lateness", Options{Lateness: -1},
			[]op{in("g", 10, 900), in("g", 60, 800), in("g", 59, 700), in("g", 60.5, 600), in("g", 59.5, 1).late()},
			[]string{out("g", 0, 59, 700, "no action")}},
		{"window length 10s", Options{Window: 10 * time.Second, Lateness: time.Second},
			[]op{in("g", 1, 900), in("g", 9, 800), in("g", 11, 700), in("g", 11.5, 600), in("g", 25, 500)},
			[]string{out("g", 0, 9, 800, "no action"), out("g", 10, 11.5, 600, "no action")}},
		{"far future reading rejected", Options{},
			[]op{inAt("g", 7300, 900, 100).bad(), inAt("g", 10, 800, 10), in("g", 20, 700), flush()},
			[]string{out("g", 0, 20, 700, "no action")}},
		{"older than retention is late", Options{Retention: time.Hour},
			[]op{inAt("g", 10, 900, 3700), tick(3700), inAt("g", 20, 900, 3700).late(), inAt("g", 120, 800, 3700),
				inAt("h", 50, 800, 3700).late(),
				inAt("h", 200, 700, 3700), flush()},
			[]string{out("g", 0, 10, 900, "no action"), out("g", 120, 120, 800, "no action"),
				out("h", 180, 200, 700, "no action")}},
		{"retention floor closes windows on tick", Options{Retention: time.Hour, IdleGrace: -1},
			[]op{in("g", 10, 900), tick(3659), tick(3661), inAt("g", 20, 1, 3661).late()},
			[]string{out("g", 0, 10, 900, "no action")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w, err := NewWindower(c.opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range run(t, w, c.ops) {
				got = append(got, describe(p))
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("points:\n  got  %s\n  want %s", strings.Join(got, "\n       "), strings.Join(c.want, "\n       "))
			}
		})
	}
}

func TestExtremeTimes(t *testing.T) {
	for _, o := range []Options{{}, {MaxFuture: -1, Retention: -1, Lateness: -1}} {
		w, _ := NewWindower(o)
		now := time.Unix(0, math.MaxInt64)
		for i, ts := range []int64{math.MinInt64, math.MaxInt64, minTime - 1, maxTime + 1} {
			if v := w.Add(reading("g", ts, 1), uint64(i+1), now); v != BadTime {
				t.Errorf("time %d: verdict %d, want BadTime", ts, v)
			}
		}
		for i, ts := range []int64{minTime, maxTime, minTime + 1, -1, 0} {
			w.Add(reading(fmt.Sprint("g", i), ts, 1), uint64(i+10), now)
		}
		w.Tick(now)
		w.Tick(time.Unix(0, math.MinInt64))
		w.Flush()
		if n := len(w.Take(nil)); n != 5 {
			t.Errorf("%d points from 5 generators", n)
		}
	}
}

func TestManyGenerators(t *testing.T) {
	w, _ := NewWindower(Options{})
	const gens, perWindow, windows = 500, 6, 3
	seq := uint64(0)
	for k := range windows * perWindow {
		for g := range gens {
			seq++
			ts := at(time.Duration(k)*10*time.Second + time.Duration(g)*time.Millisecond)
			w.Add(reading(fmt.Sprint("generator", g), ts, int64(1000-k*40-g%7)), seq, t0.Add(time.Hour))
		}
	}
	pts := w.Take(nil)
	if len(pts) != gens*(windows-1) {
		t.Fatalf("%d points before the last windows close, want %d", len(pts), gens*(windows-1))
	}
	w.Flush()
	pts = w.Take(pts)
	checkOrder(t, pts)
	sortPoints(pts)
	for i, p := range pts {
		k := (i%windows)*perWindow + perWindow - 1 // last reading of the window
		g := p.GeneratorID[len("generator"):]
		wantTime := at(time.Duration(k)*10*time.Second + time.Duration(atoi(t, g))*time.Millisecond)
		if p.Time != wantTime || p.Window != at(time.Duration(i%windows)*time.Minute) {
			t.Fatalf("point %d: %s", i, describe(p))
		}
	}
}

func atoi(t *testing.T, s string) int {
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRetentionForgetsSilentGenerators(t *testing.T) {
	w, _ := NewWindower(Options{Retention: time.Hour})
	w.Add(reading("old", at(0), 900), 1, t0)
	w.Add(reading("new", at(50*time.Minute), 900), 2, t0.Add(50*time.Minute))
	w.Tick(t0.Add(50 * time.Minute)) // closes old's window by clock
	if _, gens := w.OpenWindows(); gens != 2 {
		t.Fatalf("%d generators before the retention passes", gens)
	}
	w.Tick(t0.Add(62 * time.Minute))
	if open, gens := w.OpenWindows(); gens != 1 || open != 0 {
		t.Fatalf("after the retention: %d generators, %d open windows; want 1 and 0", gens, open)
	}
	if v := w.Add(reading("old", at(30*time.Second), 1), 3, t0.Add(62*time.Minute)); v != Late {
		t.Errorf("reading of a forgotten window: verdict %d, want Late", v)
	}
	if len(appendMeta(nil, 3, w)) > 30 {
		t.Errorf("meta keeps the forgotten generator: %d bytes", len(appendMeta(nil, 3, w)))
	}
}
