package fleet_test

import (
	"context"
	"testing"
	"time"

	"github.com/edgespool/edgespool/sim/fleet"
	"github.com/edgespool/edgespool/sim/testenv"
)

// BenchmarkMQTTPublish publishes b.N readings at QoS 1 through one
// connection with the default window into Mosquitto and waits for every
// acknowledgement.
func BenchmarkMQTTPublish(b *testing.B) {
	br := testenv.Mosquitto(b)
	ctx := context.Background()
	pub, err := fleet.DialMQTT(ctx, fleet.MQTTOptions{Broker: br.URL, ClientID: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	g := fleet.NewGenerator(1, 1)
	topic := fleet.Topic(g.ID)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		payload := fleet.AppendPayload(make([]byte, 0, 200), g.Next(time.Now()), false)
		if err := pub.Publish(ctx, topic, payload, nil); err != nil {
			b.Fatal(err)
		}
	}
	if err := pub.Close(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

// BenchmarkModelNext measures the generator model and payload encoding.
func BenchmarkModelNext(b *testing.B) {
	g := fleet.NewGenerator(1, 1)
	buf := make([]byte, 0, 256)
	now := time.Unix(1700000000, 0)
	for i := 0; i < b.N; i++ {
		buf = fleet.AppendPayload(buf[:0], g.Next(now), false)
	}
}
