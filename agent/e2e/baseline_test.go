package e2e

import (
	"fmt"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgespool/edgespool/agent/mqttconn"
	"github.com/edgespool/edgespool/sim/fleet"
	"github.com/edgespool/edgespool/sim/testenv"
)

// BenchmarkBrokerBaseline is the floor under BenchmarkLiveLatency: the
// same fleet and load into Mosquitto (configured as the live benchmark's),
// received by a bare paho QoS 1 subscriber (persistent session, automatic
// acknowledgement, connected through mqttconn like the agent) in this
// process instead of the agent. mqtt_p50_ms and mqtt_p99_ms are from the
// payload's publish time to the subscriber's message handler; readings/s
// is the publish rate the fleet achieved. Run it beside the live
// benchmark: on a shared machine the figures move with the load.
func BenchmarkBrokerBaseline(b *testing.B) {
	c := liveConfigFromEnv(b)
	broker := testenv.Mosquitto(b, benchBroker)
	sub := newLatencySubscriber(b, broker.URL)
	var lat []time.Duration
	var published uint64
	var elapsed time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		first := 1 + i*c.gens
		since := time.Now().Add(c.warmup).UnixNano()
		sub.measure(first, first+c.gens-1, since)
		pub := startFleet(b, broker.URL, c.conns, fleet.Options{Generators: c.gens, First: first,
			Rate: c.rate / float64(c.gens), Duration: c.dur, Seed: uint64(i + 1), Recorder: newSampleRecorder(first, 0), Align: c.align})
		time.Sleep(time.Until(time.Unix(0, since)))
		pub0, t0 := pub.published(), time.Now()
		pub.wait(b)
		elapsed += time.Since(t0)
		published += pub.published() - pub0
		if err := sub.waitFor(pub.published(), time.Minute); err != nil {
			b.Error(err)
		}
		lat = append(lat, sub.take()...)
	}
	b.StopTimer()
	p50, p99, top := quantiles(lat)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(ms(p50), "mqtt_p50_ms")
	b.ReportMetric(ms(p99), "mqtt_p99_ms")
	b.ReportMetric(float64(published)/elapsed.Seconds(), "readings/s")
	b.Logf("bare subscriber: %d readings, p50 %v p99 %v max %v", len(lat), p50, p99, top)
}

// latencySubscriber is a bare paho QoS 1 subscriber recording, for the
// readings of the generators measured, handler time - publish time.
type latencySubscriber struct {
	mu      sync.Mutex
	lo, hi  int
	since   int64
	lat     []time.Duration
	got     uint64
	changed chan struct{}
}

func newLatencySubscriber(b *testing.B, brokerURL string) *latencySubscriber {
	s := &latencySubscriber{changed: make(chan struct{}, 1)}
	o := mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID(fmt.Sprintf("baseline-%d", time.Now().UnixNano())).
		SetCleanSession(false).SetDefaultPublishHandler(s.handle).
		SetCustomOpenConnectionFn(mqttconn.Opener(mqttconn.Options{Linger: time.Millisecond}))
	cl := mqtt.NewClient(o)
	if tok := cl.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("subscriber: %v", tok.Error())
	}
	b.Cleanup(func() { cl.Disconnect(100) })
	if tok := cl.Subscribe(fleet.TopicPrefix+"+", 1, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("subscribe: %v", tok.Error())
	}
	return s
}

func (s *latencySubscriber) handle(_ mqtt.Client, m mqtt.Message) {
	now := time.Now()
	g, ev, ok := genAndTime(m.Payload())
	s.mu.Lock()
	defer s.mu.Unlock()
	if !ok || g < s.lo || g > s.hi {
		return
	}
	s.got++
	if ev >= s.since {
		s.lat = append(s.lat, now.Sub(time.Unix(0, ev)))
	}
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

func (s *latencySubscriber) measure(lo, hi int, since int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lo, s.hi, s.since, s.lat, s.got = lo, hi, since, nil, 0
}

func (s *latencySubscriber) waitFor(n uint64, timeout time.Duration) error {
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		got := s.got
		s.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-s.changed:
		case <-deadline:
			return fmt.Errorf("subscriber got %d of %d readings within %v", got, n, timeout)
		}
	}
}

func (s *latencySubscriber) take() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.lat
	s.lat = nil
	return l
}
