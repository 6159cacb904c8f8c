package fleet

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent/clock"
)

// newFakeClock is a virtual clock: a Pacer's sleep advances it at once.
func newFakeClock() *clock.Auto { return clock.NewAuto(time.Unix(1700000000, 0)) }

func countTicks(t *testing.T, rate float64, span time.Duration) int {
	t.Helper()
	c := newFakeClock()
	p := &Pacer{Rate: rate, Clock: c}
	end := c.Now().Add(span)
	n := 0
	for {
		now, err := p.Wait(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !now.Before(end) {
			return n
		}
		n++
	}
}

func TestPacerRates(t *testing.T) {
	for _, tc := range []struct {
		rate float64
		span time.Duration
	}{{0.2, time.Minute}, {1, 10 * time.Second}, {250, 10 * time.Second}, {1000, 5 * time.Second}, {5000, 2 * time.Second}} {
		want := tc.rate * tc.span.Seconds()
		got := countTicks(t, tc.rate, tc.span)
		if math.Abs(float64(got)-want) > 1 {
			t.Errorf("rate %v over %v: %d ticks, want %v", tc.rate, tc.span, got, want)
		}
	}
}

func TestPacerCatchesUpSmallLagAndSkipsLargeLag(t *testing.T) {
	c := newFakeClock()
	p := &Pacer{Rate: 100, Clock: c, MaxLag: time.Second}
	ctx := context.Background()
	p.Wait(ctx)
	c.Advance(500 * time.Millisecond) // small stall: ticks follow without sleeping
	before := c.Now()
	for i := 0; i < 50; i++ {
		p.Wait(ctx)
	}
	if !c.Now().Equal(before) {
		t.Fatalf("pacer slept %v while catching up", c.Now().Sub(before))
	}
	c.Advance(5 * time.Second) // long stall: give up the backlog
	p.Wait(ctx)
	if s := p.Skipped(); s < 490 || s > 510 {
		t.Fatalf("skipped %d ticks, want about 500", s)
	}
	before = c.Now()
	p.Wait(ctx)
	if d := c.Now().Sub(before); d != 10*time.Millisecond {
		t.Fatalf("after re-anchoring the next tick came %v later, want 10ms", d)
	}
}

func TestPacerStopsOnContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p := &Pacer{Rate: 1, Clock: clock.Real{}}
	p.Wait(context.Background())
	if _, err := p.Wait(ctx); err == nil {
		t.Fatal("Wait returned no error on a cancelled context")
	}
}

func TestAlignedPacersWakeTogetherAtTheSameRate(t *testing.T) {
	c := newFakeClock()
	c.Advance(1234567 * time.Nanosecond) // start off the grid
	const align = 5 * time.Millisecond
	a := &Pacer{Rate: 400, Clock: c, Align: align}
	n, sleeps := 0, 0
	end := c.Now().Add(10 * time.Second)
	last := c.Now()
	for {
		now, err := a.Wait(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !now.Before(end) {
			break
		}
		if now != last {
			sleeps++
			if now.UnixNano()%int64(align) != 0 {
				t.Fatalf("woke at %v, not a multiple of %v", now, align)
			}
		}
		last = now
		n++
	}
	if math.Abs(float64(n)-4000) > 2 {
		t.Fatalf("%d ticks in 10 s at 400/s with alignment, want 4000", n)
	}
	// 2.5 ms apart, rounded up to 5 ms: two ticks per wake.
	if sleeps > 2001 {
		t.Fatalf("%d wakes for %d ticks, want about half", sleeps, n)
	}
}
