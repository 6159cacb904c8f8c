package intake

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent/model"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/edgespool/edgespool/agent/logging/logtest"
	"github.com/edgespool/edgespool/sim/testenv"
)

// memSpool is an Appender that keeps records in memory and can be made to
// fail.
type memSpool struct {
	mu    sync.Mutex
	recs  []Record
	fail  error
	calls int
}

func (m *memSpool) Append(_ context.Context, recs []Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if m.fail != nil {
		return m.fail
	}
	m.recs = append(m.recs, recs...)
	return nil
}

func (m *memSpool) snapshot() []Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Record(nil), m.recs...)
}

func publisher(t *testing.T, url string) mqtt.Client {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("pub-%d", time.Now().UnixNano())))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func reading(gen string, seq int) []byte {
	return fmt.Appendf(nil, `{"generatorID":%q,"seq":%d,"lat":40.7,"lon":-74,"temperature":205,"power":1534,"load":62,"fuel":%d}`,
		gen, seq, 900-seq%400)
}

// startIntake starts an intake on url whose log fails the test on a
// record with a duplicate key.
func startIntake(t *testing.T, url string, app Appender, reg prometheus.Registerer) *Intake {
	t.Helper()
	return startIntakeWith(t, Options{Broker: url, Registerer: reg}, app)
}

func startIntakeWith(t *testing.T, o Options, app Appender) *Intake {
	t.Helper()
	o.ClientID, o.Topics, o.Decoder = "agent-test", []string{"emergency_generator/#"}, Decoder{MaxPayload: 1024}
	o.Ignore = func(topic string) bool { return len(topic) > 6 && topic[len(topic)-6:] == "/alarm" }
	if o.Logger == nil {
		o.Logger, _ = logtest.Logger(t)
	}
	in, err := New(app, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 10*time.Second, in.Ready)
	return in
}

func TestIntakeStoresAcksAndDeadLetters(t *testing.T) {
	b := testenv.Mosquitto(t, testenv.BrokerConfig("log_type debug"))
	app := &memSpool{}
	reg := prometheus.NewRegistry()
	clk := newFakeClock()
	log, logs := logtest.Logger(t)
	in := startIntakeWith(t, Options{Broker: b.URL, Registerer: reg, Clock: clk, Logger: log}, app)
	if st := in.Status(); !st.Since.Equal(clk.Now()) {
		t.Errorf("connected since %v, want the injected clock's %v", st.Since, clk.Now())
	}
	pub := publisher(t, b.URL)
	const n = 500
	for i := 1; i <= n; i++ {
		pub.Publish("emergency_generator/g1", 1, false, reading("g1", i))
	}
	pub.Publish("emergency_generator/g2/alarm", 1, false, []byte(`refuel`)).Wait()
	pub.Publish("emergency_generator/g2", 1, false, []byte(`{"lat":1,"lon":2,"temperature":1,"power":1,"load":1,"fuel":812.5}`)).Wait()
	testenv.WaitFor(t, 10*time.Second, func() bool { return len(app.snapshot()) == n+1 })
	if err := in.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	var dead int
	for i, r := range app.snapshot() {
		if r.Stream == model.StreamDeadLetter {
			dead++
			dl, err := model.DecodeDeadLetter(r.Value)
			if err != nil || dl.Class != ReasonNotInteger || dl.Source != "mqtt" || dl.Topic != "emergency_generator/g2" {
				t.Fatalf("dead letter %s: %v", r.Value, err)
			}
			continue
		}
		rd, err := model.DecodeReading(r.Value)
		if err != nil || rd.Seq != uint64(i+1) || r.Key != "g1" || rd.GeneratorID != "g1" {
			t.Fatalf("record %d: %+v %v", i, rd, err)
		}
	}
	if dead != 1 {
		t.Fatalf("%d dead letters", dead)
	}
	if v := counterValue(in.m.rejected[ReasonNotInteger]); v != 1 {
		t.Errorf("rejected metric %v", v)
	}
	if v := counterValue(in.m.ignored); v != 1 {
		t.Errorf("ignored metric %v", v)
	}
	var d dto.Metric
	if err := in.m.delay.Write(&d); err != nil || d.GetHistogram().GetSampleCount() != n {
		t.Errorf("delay histogram: %d samples (%v), want %d", d.GetHistogram().GetSampleCount(), err, n)
	}
	if r := logs.Find("payload rejected"); len(r) != 1 || r[0].Attrs["reason"].String() != ReasonNotInteger {
		t.Errorf("rejection debug records %v", r)
	}
	if got := in.acks.Sent(); got != n+2 {
		t.Errorf("%d PUBACKs written with the commits, want %d", got, n+2)
	}
	// Everything was acknowledged: a new session with the same id gets nothing.
	app2 := &memSpool{}
	in2 := startIntake(t, b.URL, app2, nil)
	time.Sleep(500 * time.Millisecond)
	in2.Stop(context.Background())
	if got := len(app2.snapshot()); got != 0 {
		t.Logf("broker log:\n%s", b.Log())
		t.Fatalf("redelivered %d acknowledged messages", got)
	}
}

func TestIntakeHoldsAcksWhileSpoolFails(t *testing.T) {
	b := testenv.Mosquitto(t)
	app := &memSpool{fail: fmt.Errorf("disk on fire")}
	in := startIntake(t, b.URL, app, nil)
	pub := publisher(t, b.URL)
	for i := 1; i <= 50; i++ {
		pub.Publish("emergency_generator/g1", 1, false, reading("g1", i)).Wait()
	}
	testenv.WaitFor(t, 5*time.Second, func() bool { app.mu.Lock(); defer app.mu.Unlock(); return app.calls >= 2 })
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	in.Stop(ctx) // cannot flush: the spool keeps failing
	// A new session gets every message again, because none was acknowledged.
	app2 := &memSpool{}
	in2 := startIntake(t, b.URL, app2, nil)
	testenv.WaitFor(t, 10*time.Second, func() bool { return len(app2.snapshot()) == 50 })
	in2.Stop(context.Background())
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

func TestIntakeDrainKeepsTheSessionForPublishing(t *testing.T) {
	b := testenv.Mosquitto(t)
	app := &memSpool{}
	in := startIntake(t, b.URL, app, nil)
	pub := publisher(t, b.URL)
	pub.Publish("emergency_generator/g1", 1, false, reading("g1", 1)).Wait()
	testenv.WaitFor(t, 10*time.Second, func() bool { return len(app.snapshot()) == 1 })
	if err := in.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Drained: new readings wait at the broker, but the session still
	// carries publications (the agent's alarms).
	pub.Publish("emergency_generator/g1", 1, false, reading("g1", 2)).Wait()
	tok := in.Client().Publish("emergency_generator/g1/alarm", 1, true, []byte(`{"alarm":"refuel"}`))
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish after Drain: %v", tok.Error())
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(app.snapshot()); n != 1 {
		t.Fatalf("%d readings stored after Drain, want 1", n)
	}
	in.Close()
	if in.Client().IsConnected() {
		t.Fatal("connected after Close")
	}
	in.Close() // idempotent
	// The reading published after Drain goes to the next session.
	app2 := &memSpool{}
	in2 := startIntake(t, b.URL, app2, nil)
	testenv.WaitFor(t, 10*time.Second, func() bool { return len(app2.snapshot()) == 1 })
	in2.Stop(context.Background())
}

func TestIntakeCountsQoS0Deliveries(t *testing.T) {
	for _, upgrade := range []bool{false, true} {
		t.Run(fmt.Sprint("upgrade_outgoing_qos=", upgrade), func(t *testing.T) {
			var opts []testenv.BrokerOption
			if upgrade {
				opts = append(opts, testenv.BrokerConfig("upgrade_outgoing_qos true"))
			}
			b := testenv.Mosquitto(t, opts...)
			app := &memSpool{}
			in := startIntake(t, b.URL, app, nil)
			pub := publisher(t, b.URL)
			for i := 1; i <= 3; i++ {
				pub.Publish("emergency_generator/g1", 0, false, reading("g1", i)).Wait()
			}
			testenv.WaitFor(t, 10*time.Second, func() bool { return len(app.snapshot()) == 3 })
			in.Stop(context.Background())
			want := 3.0
			if upgrade { // delivered at the subscription's QoS 1
				want = 0
			}
			if got := counterValue(in.m.qos0); got != want {
				t.Fatalf("qos0 messages %v, want %v", got, want)
			}
		})
	}
}

func TestIntakeAcksThroughPahoWhenDirectAckIsDisabled(t *testing.T) {
	b := testenv.Mosquitto(t)
	app := &memSpool{}
	in := startIntakeWith(t, Options{Broker: b.URL, DisableDirectAck: true}, app)
	pub := publisher(t, b.URL)
	const n = 50
	for i := 1; i <= n; i++ {
		pub.Publish("emergency_generator/g1", 1, false, reading("g1", i))
	}
	testenv.WaitFor(t, 10*time.Second, func() bool { return len(app.snapshot()) == n })
	if err := in.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := in.acks.Sent(); got != 0 {
		t.Fatalf("%d PUBACKs written directly with DisableDirectAck", got)
	}
	// paho acknowledged every message: a new session gets nothing.
	app2 := &memSpool{}
	in2 := startIntake(t, b.URL, app2, nil)
	time.Sleep(500 * time.Millisecond)
	in2.Stop(context.Background())
	if got := len(app2.snapshot()); got != 0 {
		t.Fatalf("redelivered %d acknowledged messages", got)
	}
}
