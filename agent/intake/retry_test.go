package intake

import (
	"context"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent/clock"
)

// The first connection is retried on the injected clock: each failed
// attempt waits one delay on it, the next attempt comes only once the
// clock has moved past that delay, and Close ends a pending wait.
func TestConnectRetriesWaitOnTheInjectedClock(t *testing.T) {
	fc := clock.NewFake(time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC))
	in, err := New(&memSpool{}, Options{Broker: "tcp://127.0.0.1:1", Clock: fc,
		ReconnectMin: time.Minute, ReconnectMax: time.Minute, ConnectTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for attempt := 1; attempt <= 3; attempt++ {
		if err := fc.WaitForWaiters(wctx, 1); err != nil {
			t.Fatalf("attempt %d: no retry wait on the injected clock: %v", attempt, err)
		}
		if st := in.Status(); st.Connected || st.LastError == "" {
			t.Fatalf("attempt %d: status %+v, want a connect error", attempt, st)
		}
		fc.Advance(time.Minute) // the delay is at most ReconnectMax
	}
	closed := make(chan struct{})
	go func() { in.Close(); close(closed) }()
	select {
	case <-closed:
	case <-wctx.Done():
		t.Fatal("Close did not end the retry wait")
	}
}
