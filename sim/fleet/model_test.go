package fleet

import (
	"slices"
	"testing"
	"time"
)

func TestBandForCoversEveryLoad(t *testing.T) {
	for load := int64(0); load <= MaxLoad; load++ {
		b := BandFor(load)
		if load < b.MinLoad || load > b.MaxLoad {
			t.Fatalf("load %d mapped to band %+v", load, b)
		}
	}
	if got := BandFor(24); got.BurnMin != 10 || got.BurnMax != 50 {
		t.Fatalf("1..24 band burns %d..%d, want 10..50", got.BurnMin, got.BurnMax)
	}
}

// TestReadingsFollowBands checks every reading of a long run against the
// reference pipeline's table, recomputing the fuel from the previous reading.
func TestReadingsFollowBands(t *testing.T) {
	g := NewGenerator(42, 3)
	fuel := g.Fuel()
	if fuel < StartFuelMin || fuel > StartFuelMax {
		t.Fatalf("start fuel %d", fuel)
	}
	now := time.Unix(1700000000, 0)
	refills, burns, loads := 0, 0, map[int64]bool{}
	for i := 0; i < 20000; i++ {
		r := g.Next(now.Add(time.Duration(i) * time.Millisecond))
		b := BandFor(r.Load)
		loads[r.Load] = true
		checkRange(t, "temperature", r.Temperature, b.TempMin, b.TempMax)
		checkRange(t, "power", r.Power, b.PowerMin, b.PowerMax)
		delta := r.Fuel - fuel
		if fuel <= 0 {
			checkRange(t, "refill", delta, RefillMin, RefillMax)
			refills++
		} else {
			checkRange(t, "burn", -delta, b.BurnMin, b.BurnMax)
			burns++
		}
		fuel = r.Fuel
	}
	if refills == 0 || burns == 0 || len(loads) != MaxLoad+1 {
		t.Fatalf("refills %d burns %d distinct loads %d: model not exercised", refills, burns, len(loads))
	}
}

func checkRange(t *testing.T, what string, v, lo, hi int64) {
	t.Helper()
	if v < lo || v > hi {
		t.Fatalf("%s %d outside %d..%d", what, v, lo, hi)
	}
}

func TestRefillOnlyWhenEmpty(t *testing.T) {
	g := NewGenerator(7, 1)
	g.fuel = 0
	r := g.Next(time.Unix(0, 1))
	checkRange(t, "refilled fuel", r.Fuel, RefillMin, RefillMax)
	g.fuel = -40
	r = g.Next(time.Unix(0, 2))
	checkRange(t, "refilled fuel from -40", r.Fuel, RefillMin-40, RefillMax-40)
	g.fuel = 1
	r = g.Next(time.Unix(0, 3))
	if r.Fuel > 1 {
		t.Fatalf("fuel 1 was refilled to %d; refill happens only at <= 0", r.Fuel)
	}
}

func TestSeqAndTimeMonotone(t *testing.T) {
	g := NewGenerator(1, 1)
	same := time.Unix(100, 0)
	var last int64
	for i := uint64(1); i <= 100; i++ {
		r := g.Next(same) // identical clock readings
		if r.Seq != i {
			t.Fatalf("seq %d, want %d", r.Seq, i)
		}
		if r.Time <= last {
			t.Fatalf("time %d not after %d", r.Time, last)
		}
		last = r.Time
	}
}

func TestDeterministicPerSeedAndIndex(t *testing.T) {
	run := func(seed uint64, idx int) []int64 {
		g := NewGenerator(seed, idx)
		var out []int64
		for i := 0; i < 50; i++ {
			r := g.Next(time.Unix(int64(i), 0))
			out = append(out, r.Load, r.Temperature, r.Power, r.Fuel)
		}
		return append(out, int64(g.Place.Lat*1e5))
	}
	if !slices.Equal(run(9, 2), run(9, 2)) {
		t.Fatal("same seed and index gave different readings")
	}
	if slices.Equal(run(9, 2), run(10, 2)) || slices.Equal(run(9, 2), run(9, 3)) {
		t.Fatal("different seed or index gave identical readings")
	}
}

func TestPlacesAreFixedPerGenerator(t *testing.T) {
	seen := map[string]bool{}
	for i := 1; i <= 40; i++ {
		g := NewGenerator(5, i)
		if g.ID != ID(i) {
			t.Fatalf("id %q", g.ID)
		}
		p := g.Place
		for j := 0; j < 10; j++ {
			r := g.Next(time.Unix(int64(j), 0))
			if r.Lat != p.Lat || r.Lon != p.Lon {
				t.Fatal("location changed")
			}
		}
		seen[p.Name] = true
	}
	if len(seen) < 10 {
		t.Fatalf("40 generators share only %d places", len(seen))
	}
}
