package testenv

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestMosquittoRoundTripAndRestart(t *testing.T) {
	b := Mosquitto(t)
	got := make(chan string, 10)
	sub := mqttClient(t, b.URL, "sub", func(_ mqtt.Client, m mqtt.Message) { got <- string(m.Payload()) })
	wait(t, sub.Subscribe("t/#", 1, nil))
	sub.Disconnect(100) // persistent session keeps the subscription

	b.Stop()
	b.Start()
	pub := mqttClient(t, b.URL, "pub", nil)
	wait(t, pub.Publish("t/1", 1, false, "hello"))
	mqttClient(t, b.URL, "sub", func(_ mqtt.Client, m mqtt.Message) { got <- string(m.Payload()) })
	select {
	case s := <-got:
		if s != "hello" {
			t.Fatalf("got %q", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("queued message not delivered after broker restart\n%s", b.Log())
	}
}

func mqttClient(t *testing.T, url, id string, h mqtt.MessageHandler) mqtt.Client {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(false).
		SetDefaultPublishHandler(h)
	c := mqtt.NewClient(o)
	wait(t, c.Connect())
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func wait(t *testing.T, tok mqtt.Token) {
	t.Helper()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtt: %v", tok.Error())
	}
}

func TestInfluxWriteQueryFlux(t *testing.T) {
	in := Influx(t)
	in.CreateDB(t, "kafka")
	in.Write(t, "kafka", "genData,generatorID=generator1 fuel=812i,lat=40.7 1700000000000000000\n")
	s := in.Query(t, "kafka", `SELECT fuel FROM genData`)
	if len(s) != 1 || len(s[0].Values) != 1 || s[0].Values[0][1].(interface{ String() string }).String() != "812" {
		t.Fatalf("query: %+v", s)
	}
	csv := in.Flux(t, `from(bucket: "kafka/autogen") |> range(start: 2023-01-01T00:00:00Z) |> filter(fn: (r) => r._field == "fuel")`)
	if !strings.Contains(csv, "812") || !strings.Contains(csv, "generator1") {
		t.Fatalf("flux: %s", csv)
	}
}

func TestKafkaBehindProxyCutAndRestart(t *testing.T) {
	x := Toxiproxy(t)
	k := Kafka(t, KafkaBehind(x))
	cl := k.Client(t, kgo.AllowAutoTopicCreation())
	produce(t, cl, "a")

	p, err := x.Client.Proxy("kafka0")
	if err != nil {
		t.Fatal(err)
	}
	(&Proxy{Proxy: p}).Cut(t)
	if c, err := net.DialTimeout("tcp", k.Addrs[0], time.Second); err == nil {
		c.Close()
		t.Fatal("proxy still accepts connections after cut")
	}
	(&Proxy{Proxy: p}).Restore(t)
	produce(t, cl, "b")

	k.Stop()
	k.Start()
	recs := k.Consume(t, "topic")
	if len(recs) != 2 {
		t.Fatalf("after restart: %d records, want 2", len(recs))
	}
}

func produce(t *testing.T, cl *kgo.Client, v string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "topic", Key: []byte("k"), Value: []byte(v)}).FirstErr(); err != nil {
		t.Fatalf("produce %s: %v", v, err)
	}
}

func TestToolMissingSkipsOrFails(t *testing.T) {
	t.Setenv("EDGESPOOL_TOOLS", t.TempDir())
	t.Setenv("PATH", t.TempDir())
	t.Setenv("EDGESPOOL_REQUIRE_SERVICES", "1")
	ft := &fakeTB{TB: t}
	func() {
		defer func() { _ = recover() }()
		Tool(ft, "no-such-server")
	}()
	if !ft.failed {
		t.Fatal("missing tool with EDGESPOOL_REQUIRE_SERVICES did not fail the test")
	}
}

// fakeTB records Fatal instead of stopping the real test.
type fakeTB struct {
	testing.TB
	failed bool
}

func (f *fakeTB) Helper()           {}
func (f *fakeTB) Fatal(args ...any) { f.failed = true; panic("fatal") }
