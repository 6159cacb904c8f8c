package backoff

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent/clock"
)

func TestDelaysDoubleToTheCapWithinTheUpperHalf(t *testing.T) {
	for _, r := range []float64{0, 0.5, 0.999} {
		b := New(Options{Min: 100 * time.Millisecond, Max: time.Second, Rand: func() float64 { return r }})
		want := []time.Duration{100, 200, 400, 800, 1000, 1000}
		for i, full := range want {
			full *= time.Millisecond
			d := b.Next()
			if d < full/2 || d > full {
				t.Fatalf("rand %v, failure %d: delay %v outside [%v, %v]", r, i+1, d, full/2, full)
			}
		}
		if b.Failures() != len(want) {
			t.Fatalf("failures %d, want %d", b.Failures(), len(want))
		}
		b.Reset()
		if d := b.Next(); d > 100*time.Millisecond {
			t.Fatalf("after reset: %v", d)
		}
	}
}

func TestDefaultsAndMaxNeverBelowMin(t *testing.T) {
	b := New(Options{Rand: func() float64 { return 0.999999 }})
	if d := b.Next(); d > DefaultMin || d < DefaultMin/2 {
		t.Fatalf("first default delay %v", d)
	}
	b = New(Options{Min: time.Second, Max: time.Millisecond, Rand: func() float64 { return 0.999999 }})
	b.Next()
	if d := b.Next(); d < time.Second/2 || d > time.Second {
		t.Fatalf("max below min: delay %v", d)
	}
}

func TestWaitRunsOnTheInjectedClock(t *testing.T) {
	fc := clock.NewFake(time.Unix(0, 0))
	b := New(Options{Min: time.Minute, Clock: fc, Rand: func() float64 { return 0 }})
	done := make(chan error, 1)
	go func() { done <- b.Wait(context.Background()) }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := fc.WaitForWaiters(ctx, 1); err != nil {
		t.Fatal("Wait did not use the clock")
	}
	select {
	case <-done:
		t.Fatal("Wait returned before the clock moved")
	default:
	}
	fc.Advance(30 * time.Second) // the delay is the upper half's floor: 30s
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestWaitStopsWithTheContext(t *testing.T) {
	b := New(Options{Min: time.Hour, Clock: clock.NewFake(time.Unix(0, 0))})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Wait(ctx) }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait ignored the cancelled context")
	}
}
