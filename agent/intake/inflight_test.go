package intake

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/edgespool/edgespool/sim/testenv"
)

// stuckSpool is an Appender whose Append blocks until released, or fails
// with ENOSPC while full is set.
type stuckSpool struct {
	memSpool
	gate    chan struct{} // closed to let Appends through
	full    atomic.Bool
	entered atomic.Int64
}

func (s *stuckSpool) Append(ctx context.Context, recs []Record) error {
	s.entered.Add(1)
	if s.full.Load() {
		return fmt.Errorf("spool append: %w", syscall.ENOSPC)
	}
	select {
	case <-s.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.memSpool.Append(ctx, recs)
}

func gaugeValue(g prometheus.Gauge) float64 {
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		panic(err)
	}
	return m.GetGauge().GetValue()
}

// gaugeWatch samples a gauge until stopped and keeps the highest value.
func gaugeWatch(g prometheus.Gauge) (stop func() float64) {
	var (
		peak float64
		wg   sync.WaitGroup
		done = make(chan struct{})
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			peak = max(peak, gaugeValue(g))
			select {
			case <-done:
				return
			case <-time.After(100 * time.Microsecond):
			}
		}
	}()
	return func() float64 { close(done); wg.Wait(); return peak }
}

// TestIntakeNeverHoldsMoreThanMaxInflight publishes far more than
// MaxInflight messages while the spool's commit hangs or fails with
// ENOSPC: the intake must hold at most MaxInflight unacknowledged
// messages (the commit in progress and the queue behind it together), and
// store every message once the spool recovers.
func TestIntakeNeverHoldsMoreThanMaxInflight(t *testing.T) {
	if testing.Short() {
		t.Skip("publishes thousands of messages through a real broker")
	}
	for _, mode := range []string{"commit blocks", "ENOSPC"} {
		t.Run(mode, func(t *testing.T) {
			const limit, n = 50, 2000
			b := testenv.Mosquitto(t)
			app := &stuckSpool{gate: make(chan struct{})}
			app.full.Store(mode == "ENOSPC")
			in, err := New(app, Options{Broker: b.URL, ClientID: "agent-inflight", MaxInflight: limit,
				Decoder: Decoder{MaxPayload: 1024}})
			if err != nil {
				t.Fatal(err)
			}
			if err := in.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			var release sync.Once
			open := func() { app.full.Store(false); close(app.gate) }
			defer in.Stop(context.Background())
			defer release.Do(open)
			testenv.WaitFor(t, 10*time.Second, in.Ready)
			watch := gaugeWatch(in.m.inflight)
			pub := publisher(t, b.URL)
			for i := 1; i <= n; i++ {
				pub.Publish("emergency_generator/g1", 1, false, reading("g1", i))
			}
			// The handler fills every slot behind the stuck commit, then waits.
			testenv.WaitFor(t, 10*time.Second, func() bool { return in.held.Load() == limit && app.entered.Load() >= 1 })
			time.Sleep(300 * time.Millisecond)
			if st := in.Status(); st.Inflight != limit {
				t.Errorf("status in-flight %d while the spool is stuck, want %d", st.Inflight, limit)
			}
			release.Do(open)
			testenv.WaitFor(t, 30*time.Second, func() bool { return len(app.snapshot()) == n })
			if peak := watch(); peak > limit {
				t.Errorf("in-flight gauge reached %v, limit %d", peak, limit)
			}
			if peak := in.peak.Load(); peak > limit {
				t.Errorf("held up to %d unacknowledged messages, limit %d", peak, limit)
			}
			testenv.WaitFor(t, 5*time.Second, func() bool { return gaugeValue(in.m.inflight) == 0 })
		})
	}
}
