package downsample

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent/model"
)

// randomStream returns readings in arrival order: several generators, each
// mostly in order, with jitter, ties, duplicates, bursts from the past (late
// readings) and silent stretches.
func randomStream(rng *rand.Rand, n int) []model.Reading {
	gens := 1 + rng.IntN(12)
	clock := make([]int64, gens)
	for i := range clock {
		clock[i] = at(time.Duration(rng.IntN(120)) * time.Second)
	}
	out := make([]model.Reading, 0, n)
	for len(out) < n {
		g := rng.IntN(gens)
		clock[g] += int64(rng.IntN(3000)) * int64(time.Millisecond) / int64(1+rng.IntN(3))
		if rng.IntN(50) == 0 {
			clock[g] += int64(rng.IntN(300)) * int64(time.Second) // silent stretch
		}
		t := clock[g]
		switch rng.IntN(10) {
		case 0:
			t -= int64(rng.IntN(10_000)) * int64(time.Millisecond) // out of order, maybe late
		case 1:
			t -= int64(rng.IntN(200)) * int64(time.Second) // very late
		case 2:
			t = t / int64(time.Second) * int64(time.Second) // ties on whole seconds
		}
		fuel := int64(rng.IntN(1200)) - 100
		if rng.IntN(8) == 0 {
			fuel = 500 + int64(rng.IntN(3)) - 1
		}
		out = append(out, reading(fmt.Sprintf("generator%d", g+1), t, fuel))
	}
	return out
}

// reference computes the downsample of a whole stream the obvious way: a
// reading is late when an earlier reading of its generator is past its
// window's end plus the lateness; of the others, per generator and window,
// the one with the greatest time wins, the later arrival on ties.
func reference(o Options, stream []model.Reading) []model.Point {
	o, _ = o.withDefaults()
	w, late := int64(o.Window), max(int64(o.Lateness), 0)
	start := func(t int64) int64 { return t - ((t%w)+w)%w }
	type key struct {
		gen    string
		window int64
	}
	best := map[key]model.Reading{}
	for i, r := range stream {
		isLate := false
		for _, p := range stream[:i] {
			if p.GeneratorID == r.GeneratorID && p.Time > start(r.Time)+w+late {
				isLate = true
				break
			}
		}
		k := key{r.GeneratorID, start(r.Time)}
		if b, ok := best[k]; !isLate && (!ok || r.Time >= b.Time) {
			best[k] = r
		}
	}
	var pts []model.Point
	for k, r := range best {
		pts = append(pts, model.Point{Reading: r, Window: k.window, Region: o.Region,
			Alarm: map[bool]string{true: "refuel", false: "no action"}[r.Fuel < 500]})
	}
	sortPoints(pts)
	return pts
}

func sortPoints(pts []model.Point) {
	slices.SortFunc(pts, func(a, b model.Point) int {
		return cmp.Or(cmp.Compare(a.GeneratorID, b.GeneratorID), cmp.Compare(a.Window, b.Window))
	})
}

func randomOptions(rng *rand.Rand) Options {
	return Options{
		Window:   []time.Duration{0, 10 * time.Second, 7 * time.Second}[rng.IntN(3)],
		Lateness: []time.Duration{0, -1, 90 * time.Second, 500 * time.Millisecond}[rng.IntN(4)],
	}
}

// checkOrder fails unless each generator's windows come out once each, in
// increasing order.
func checkOrder(t *testing.T, pts []model.Point) {
	t.Helper()
	last := map[string]int64{}
	for _, p := range pts {
		if w, ok := last[p.GeneratorID]; ok && p.Window <= w {
			t.Fatalf("%s: window %d emitted after %d", p.GeneratorID, p.Window, w)
		}
		last[p.GeneratorID] = p.Window
	}
}

func comparePoints(t *testing.T, got, want []model.Point) {
	t.Helper()
	sortPoints(got)
	if len(got) != len(want) {
		t.Fatalf("%d points, reference has %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("point %d:\n got  %+v\n want %+v", i, got[i], want[i])
		}
	}
}

func TestPropertyMatchesReference(t *testing.T) {
	now := t0.Add(48 * time.Hour)
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 42))
		o := randomOptions(rng)
		stream := randomStream(rng, 50+rng.IntN(600))
		w, err := NewWindower(o)
		if err != nil {
			t.Fatal(err)
		}
		late := 0
		for i, r := range stream {
			if w.Add(r, uint64(i+1), now) == Late {
				late++
			}
		}
		w.Flush()
		got := w.Take(nil)
		checkOrder(t, got)
		want := reference(o, stream)
		t.Run(fmt.Sprint(seed), func(t *testing.T) { comparePoints(t, got, want) })
	}
}

// TestPropertyRestart cuts the stream at random points, keeps only what the
// engine keeps durably (the points emitted so far, the meta blob and the
// cursor just before the oldest reading an open window holds), rebuilds a
// Windower from them and replays: the points are those of one uninterrupted
// run, each exactly once.
func TestPropertyRestart(t *testing.T) {
	now := t0.Add(48 * time.Hour)
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 7))
		o := randomOptions(rng)
		stream := randomStream(rng, 50+rng.IntN(600))
		var got []model.Point
		w, _ := NewWindower(o)
		pos, done := 0, 0 // readings stream[:pos] were offered to w; done: before any restart
		for pos < len(stream) {
			next := min(len(stream), max(pos, done)+1+rng.IntN(80))
			done = next
			for ; pos < next; pos++ {
				w.Add(stream[pos], uint64(pos+1), now)
			}
			got = w.Take(got)
			if pos == len(stream) {
				break
			}
			meta, ack := appendMeta(nil, uint64(pos), w), uint64(pos)
			if s, ok := w.Oldest(); ok {
				ack = s - 1
			}
			w, _ = NewWindower(o)
			if _, err := restoreMeta(meta, w); err != nil {
				t.Fatal(err)
			}
			pos = int(ack)
		}
		w.Flush()
		got = w.Take(got)
		checkOrder(t, got)
		t.Run(fmt.Sprint(seed), func(t *testing.T) { comparePoints(t, got, reference(o, stream)) })
	}
}

// FuzzWindower drives a Windower with arbitrary readings, clocks and
// options: it must not panic, and must emit each (generator, window) at
// most once, in window order per generator, each point in its own window.
func FuzzWindower(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18}, int64(0), int64(60e9), int64(5e9))
	f.Fuzz(func(t *testing.T, data []byte, now, window, lateness int64) {
		w, err := NewWindower(Options{Window: time.Duration(window), Lateness: time.Duration(lateness),
			IdleGrace: time.Duration(now % 1e11), Retention: time.Duration(lateness * 7)})
		if err != nil {
			return
		}
		var pts []model.Point
		for i := 0; i+9 <= len(data); i += 9 {
			ts := int64(binary.LittleEndian.Uint64(data[i:]))
			switch op := data[i+8]; {
			case op < 16:
				w.Add(reading(fmt.Sprint("g", op%4), ts, int64(op)), uint64(i+1), time.Unix(0, now))
			default:
				now += ts % int64(time.Hour)
				w.Tick(time.Unix(0, now))
			}
			pts = w.Take(pts)
		}
		w.Flush()
		pts = w.Take(pts)
		checkOrder(t, pts)
		for _, p := range pts {
			if s := w.Start(p.Time); s != p.Window {
				t.Fatalf("point at %d in window %d, want %d", p.Time, p.Window, s)
			}
		}
	})
}
