package broker

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent/config"
	"github.com/edgespool/edgespool/agent/intake"
	"github.com/edgespool/edgespool/agent/model"
	"github.com/edgespool/edgespool/sim/fleet"
	"github.com/edgespool/edgespool/sim/testenv"
	"github.com/edgespool/edgespool/spool"
)

// benchTarget is a spool with an intake in this process, fed either by
// the embedded broker or by a Mosquitto subscription; url is where the
// devices publish.
type benchTarget struct {
	url string
	sp  *spool.Spool
}

// openBenchSpool opens a spool with the agent's commit defaults (fsync on).
func openBenchSpool(b *testing.B) *spool.Spool {
	sp, err := spool.Open(filepath.Join(b.TempDir(), "spool.db"), spool.Options{CommitMaxRecords: 4096,
		CommitMaxDelay: config.DefaultCommitMaxDelay})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sp.Close() })
	return sp
}

func stopIntake(b *testing.B, in *intake.Intake) {
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = in.Stop(ctx)
	})
}

func embeddedTarget(b *testing.B) benchTarget {
	sp := openBenchSpool(b)
	in := intake.NewLocal(sp, intake.Options{MaxInflight: 4096})
	if err := in.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	_, url := startBroker(b, in, Options{AllowAnonymous: true, Forward: true})
	stopIntake(b, in) // registered after the broker's cleanup: runs before it
	return benchTarget{url: url, sp: sp}
}

func mosquittoTarget(b *testing.B) benchTarget {
	broker := testenv.Mosquitto(b)
	sp := openBenchSpool(b)
	in, err := intake.New(sp, intake.Options{Broker: broker.URL, ClientID: "bench-agent", MaxInflight: 1000})
	if err != nil {
		b.Fatal(err)
	}
	if err := in.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	stopIntake(b, in)
	waitFor(b, "the intake subscribed", in.Ready)
	return benchTarget{url: broker.URL, sp: sp}
}

var targets = []struct {
	name string
	open func(*testing.B) benchTarget
}{{"embedded", embeddedTarget}, {"mosquitto", mosquittoTarget}}

// publishers dials conns fleet publishers (QoS 1, window 1000 each).
func publishers(b *testing.B, url string, conns int) []*fleet.MQTTPublisher {
	pubs := make([]*fleet.MQTTPublisher, conns)
	for i := range pubs {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		p, err := fleet.DialMQTT(ctx, fleet.MQTTOptions{Broker: url, ClientID: fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), i),
			Window: 1000, Logger: quietLogger()})
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		pubs[i] = p
	}
	return pubs
}

// feed publishes per readings on each publisher (generator i on publisher
// i), every `every` (0: as fast as the window allows), recording each
// PUBACK's delay from the Publish call in lat.
func feed(b *testing.B, pubs []*fleet.MQTTPublisher, per int, every time.Duration, lat *latencies) {
	var wg sync.WaitGroup
	for i, p := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			gen := fmt.Sprintf("generator%d", i+1)
			topic := "emergency_generator/" + gen
			next := time.Now()
			for seq := 1; seq <= per; seq++ {
				if every > 0 {
					next = next.Add(every)
					time.Sleep(time.Until(next))
				}
				t0 := time.Now()
				if err := p.Publish(context.Background(), topic, []byte(reading(gen, seq)), func() { lat.add(time.Since(t0)) }); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, p := range pubs {
		if err := p.Close(ctx); err != nil {
			b.Error(err)
		}
	}
}

type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

func (l *latencies) quantile(q float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	slices.Sort(l.d)
	return l.d[min(int(q*float64(len(l.d))), len(l.d)-1)]
}

// waitSpooled waits until the raw stream holds n readings.
func waitSpooled(b *testing.B, sp *spool.Spool, n int) {
	deadline := time.Now().Add(5 * time.Minute)
	for sp.Stats().Streams[model.StreamRaw].LastSeq < uint64(n) {
		if time.Now().After(deadline) {
			b.Fatalf("spool holds %d of %d readings", sp.Stats().Streams[model.StreamRaw].LastSeq, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// BenchmarkDurable measures readings/s from QoS 1 publishers in this
// process until the spool holds them all (fsync on), through the embedded
// broker and through Mosquitto + subscription. Run with
// -benchtime=200000x.
func BenchmarkDurable(b *testing.B) {
	for _, tg := range targets {
		for _, conns := range []int{100, 1} {
			b.Run(fmt.Sprintf("%s/conns=%d", tg.name, conns), func(b *testing.B) {
				t := tg.open(b)
				pubs := publishers(b, t.url, conns)
				per := max(b.N/conns, 1)
				lat := &latencies{}
				b.ResetTimer()
				t0 := time.Now()
				feed(b, pubs, per, 0, lat)
				waitSpooled(b, t.sp, per*conns)
				elapsed := time.Since(t0)
				b.StopTimer()
				b.ReportMetric(float64(per*conns)/elapsed.Seconds(), "readings/s")
				b.ReportMetric(float64(lat.quantile(0.99).Microseconds())/1000, "p99-puback-ms")
			})
		}
	}
}

// BenchmarkPubackLatency publishes 5,000 readings/s over 100 connections
// and reports the PUBACK delay the devices see. Run with
// -benchtime=25000x (five seconds).
func BenchmarkPubackLatency(b *testing.B) {
	const conns, rate = 100, 5000
	for _, tg := range targets {
		b.Run(tg.name, func(b *testing.B) {
			t := tg.open(b)
			pubs := publishers(b, t.url, conns)
			per := max(b.N/conns, 1)
			lat := &latencies{}
			b.ResetTimer()
			feed(b, pubs, per, time.Second*conns/rate, lat)
			waitSpooled(b, t.sp, per*conns)
			b.StopTimer()
			b.ReportMetric(float64(lat.quantile(0.5).Microseconds())/1000, "p50-puback-ms")
			b.ReportMetric(float64(lat.quantile(0.99).Microseconds())/1000, "p99-puback-ms")
		})
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
