package clock

import (
	"context"
	"testing"
	"time"
)

func TestFakeFiresOnlyWhenDue(t *testing.T) {
	t0 := time.Unix(100, 0)
	f := NewFake(t0)
	a, b := f.After(time.Second), f.After(3*time.Second)
	f.Advance(2 * time.Second)
	select {
	case got := <-a:
		if !got.Equal(t0.Add(2 * time.Second)) {
			t.Fatalf("fired at %v", got)
		}
	default:
		t.Fatal("due waiter did not fire")
	}
	select {
	case <-b:
		t.Fatal("waiter fired early")
	default:
	}
	if f.Waiters() != 1 {
		t.Fatalf("waiters %d", f.Waiters())
	}
	f.Advance(time.Second)
	<-b
	if !f.Now().Equal(t0.Add(3 * time.Second)) {
		t.Fatalf("now %v", f.Now())
	}
}

func TestSleepReturnsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, NewFake(time.Time{}), time.Hour); err == nil {
		t.Fatal("Sleep ignored the cancelled context")
	}
	if err := Sleep(context.Background(), nil, time.Millisecond); err != nil {
		t.Fatal(err)
	}
}

func TestAutoMovesByEveryWaitAtOnce(t *testing.T) {
	t0 := time.Unix(100, 0)
	a := NewAuto(t0)
	if err := Sleep(context.Background(), a, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	got := <-a.After(time.Second)
	if want := t0.Add(3 * time.Second); !got.Equal(want) || !a.Now().Equal(want) {
		t.Fatalf("fired at %v, now %v, want %v", got, a.Now(), want)
	}
	a.Advance(time.Minute)
	if w := a.Waits(); len(w) != 2 || w[0] != 2*time.Second || w[1] != time.Second {
		t.Fatalf("waits %v", w)
	}
	if !a.Now().Equal(t0.Add(time.Minute + 3*time.Second)) {
		t.Fatalf("now %v after Advance", a.Now())
	}
}

func TestSleepOnTheRealClockWaitsAndStops(t *testing.T) {
	start := time.Now()
	if err := Sleep(context.Background(), Real{}, 5*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) < 5*time.Millisecond {
		t.Fatal("Sleep returned early")
	}
	ctx, cancel := context.WithCancel(context.Background())
	go cancel()
	if err := Sleep(ctx, Real{}, time.Hour); err == nil {
		t.Fatal("Sleep ignored the cancelled context")
	}
}
