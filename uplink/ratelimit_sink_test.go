package uplink

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent/clock"
	"github.com/twmb/franz-go/pkg/kfake"
)

// The bandwidth cap paces the bytes a sink puts on the link: after the
// one-second burst, the waits add up to the bytes sent over the rate.
func TestSinkBandwidthCap(t *testing.T) {
	var body atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		body.Add(n)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	const rate = 2000
	clk := newFakeClock()
	in, err := NewInflux(InfluxOptions{URL: srv.URL, NoGzip: true, BatchPoints: 10, MaxBytesPerSecond: rate, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, DefaultRawTopic))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	kclk := newFakeClock()
	k, err := NewKafka(KafkaOptions{Brokers: c.ListenAddrs(), BatchBytes: 1_000_000, MaxBytesPerSecond: rate, Clock: kclk})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	var msgs []Message
	for i := 0; i < 100; i++ {
		msgs = append(msgs, rawMessage(reading(i%3, i)))
	}
	if err := in.Send(context.Background(), msgs); err != nil {
		t.Fatal(err)
	}
	if err := k.Send(context.Background(), msgs); err != nil {
		t.Fatal(err)
	}
	kbytes := int64(0)
	km, _ := k.encode(msgs)
	for _, m := range km {
		kbytes += int64(kafkaSize(m))
	}
	for name, c := range map[string]struct {
		clk   *clock.Auto
		bytes int64
	}{"influx": {clk, body.Load()}, "kafka": {kclk, kbytes}} {
		var waited time.Duration
		for _, w := range c.clk.Waits() {
			waited += w
		}
		want := time.Duration(float64(c.bytes-rate) / rate * float64(time.Second))
		if waited < want-50*time.Millisecond || waited > want+50*time.Millisecond {
			t.Errorf("%s: %d bytes at %d B/s waited %v, want %v", name, c.bytes, rate, waited, want)
		}
	}
}
