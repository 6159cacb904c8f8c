package uplink

import (
	"context"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent/clock"
)

func TestBackoffGrowsCapsAndJitters(t *testing.T) {
	for _, r := range []float64{0, 0.5, 0.999} {
		b := newBackoff(BackoffOptions{Min: 100 * time.Millisecond, Max: 2 * time.Second}, newFakeClock(),
			func() float64 { return r })
		full := []time.Duration{100, 200, 400, 800, 1600, 2000, 2000, 2000}
		for i, f := range full {
			f *= time.Millisecond
			d := b.next(0)
			if d < f/2 || d > f {
				t.Fatalf("r=%v failure %d: %v outside [%v, %v]", r, i+1, d, f/2, f)
			}
			if want := f/2 + time.Duration(r*float64(f-f/2)); d != want {
				t.Fatalf("r=%v failure %d: %v, want %v", r, i+1, d, want)
			}
		}
		b.Reset()
		if d := b.next(0); d > 100*time.Millisecond {
			t.Fatalf("after reset: %v", d)
		}
	}
}

func TestBackoffHonoursRetryAfterUpToCap(t *testing.T) {
	b := newBackoff(BackoffOptions{MaxThrottle: time.Minute}, newFakeClock(), nil)
	if d := b.next(7 * time.Second); d != 7*time.Second {
		t.Errorf("retry-after 7s: waited %v", d)
	}
	if d := b.next(time.Hour); d != time.Minute {
		t.Errorf("retry-after 1h: waited %v, want the 1m cap", d)
	}
}

func TestBackoffManyFailuresNoOverflow(t *testing.T) {
	b := newBackoff(BackoffOptions{}, newFakeClock(), nil)
	for i := 0; i < 200; i++ {
		if d := b.next(0); d <= 0 || d > 30*time.Second {
			t.Fatalf("failure %d: %v", i+1, d)
		}
	}
}

// blockingClock never fires: only the context can end a wait.
type blockingClock struct{ clock.Auto }

func (*blockingClock) After(time.Duration) <-chan time.Time { return nil }

func TestBackoffWaitInterruptedByContext(t *testing.T) {
	b := newBackoff(BackoffOptions{}, &blockingClock{}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- b.Wait(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err != context.Canceled {
			t.Fatalf("wait returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("wait not interrupted by cancel")
	}
}

func TestRateLimiter(t *testing.T) {
	clk := newFakeClock()
	l := newRateLimiter(1000, clk)
	ctx := context.Background()
	if err := l.wait(ctx, 1000); err != nil { // the burst
		t.Fatal(err)
	}
	if w := clk.Waits(); len(w) != 0 {
		t.Fatalf("burst waited %v", w)
	}
	if err := l.wait(ctx, 500); err != nil {
		t.Fatal(err)
	}
	if err := l.wait(ctx, 3000); err != nil { // larger than the burst: goes into debt
		t.Fatal(err)
	}
	w := clk.Waits()
	if len(w) != 2 || w[0] != 500*time.Millisecond || w[1] != 3*time.Second {
		t.Fatalf("waits %v, want [500ms 3s]", w)
	}
	// 4,500 bytes took 3.5s of waiting after a 1,000 byte burst: 1,000 B/s.
	var nilLimiter *rateLimiter
	if err := nilLimiter.wait(ctx, 1<<30); err != nil {
		t.Fatal(err)
	}
	if newRateLimiter(0, clk) != nil {
		t.Fatal("0 B/s must mean no limit")
	}
	bl := newRateLimiter(10, &blockingClock{})
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := bl.wait(cctx, 100); err != context.Canceled {
		t.Fatalf("cancelled wait: %v", err)
	}
}
