package e2e

import (
	"fmt"
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
type latencySubscriber struct{ *latencyLog }

func newLatencySubscriber(b *testing.B, brokerURL string) latencySubscriber {
	s := latencySubscriber{newLatencyLog("readings received by the subscriber")}
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

func (s latencySubscriber) handle(_ mqtt.Client, m mqtt.Message) {
	s.add(time.Now(), func(report func(int, int64, bool)) { report(genAndTime(m.Payload())) })
}
