package fleet_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgespool/edgespool/sim/fleet"
	"github.com/edgespool/edgespool/sim/testenv"
)

// receiver collects (generator, seq) pairs from a QoS 1 subscription, in
// arrival order; n counts distinct pairs.
type receiver struct {
	mu   sync.Mutex
	seen map[string][]uint64
	have map[string]map[uint64]bool
	n    int
}

func newReceiver() *receiver {
	return &receiver{seen: map[string][]uint64{}, have: map[string]map[uint64]bool{}}
}

func (r *receiver) handle(_ mqtt.Client, m mqtt.Message) {
	var p struct {
		ID  string `json:"generatorID"`
		Seq uint64 `json:"seq"`
	}
	if err := json.Unmarshal(m.Payload(), &p); err != nil {
		return
	}
	r.mu.Lock()
	r.seen[p.ID] = append(r.seen[p.ID], p.Seq)
	if r.have[p.ID] == nil {
		r.have[p.ID] = map[uint64]bool{}
	}
	if !r.have[p.ID][p.Seq] {
		r.have[p.ID][p.Seq] = true
		r.n++
	}
	r.mu.Unlock()
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

func subscribe(t *testing.T, url string, r *receiver) {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID("verify-sub").SetCleanSession(false).
		SetAutoReconnect(true).SetConnectRetry(true).SetMaxReconnectInterval(time.Second).
		SetDefaultPublishHandler(r.handle).
		SetOnConnectHandler(func(c mqtt.Client) { c.Subscribe("emergency_generator/+", 1, nil) })
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	time.Sleep(200 * time.Millisecond) // subscription in place
}

// TestPublisherAgainstMosquitto publishes two generators at QoS 1 through a
// small window while the broker is restarted, and checks that every seq
// arrives, each generator in order apart from resends.
func TestPublisherAgainstMosquitto(t *testing.T) {
	publishThroughRestarts(t, fleet.MQTTOptions{ClientID: "sim-test", Window: 50}, 2, 2000, 1)
}

// TestPublisherKeepsOrderAcrossBrokerRestarts restarts the broker several
// times under a pipelined publisher with the default window: after each
// reconnect the unacknowledged messages must go out again, in order,
// before any new one, so the subscriber sees no reorder.
func TestPublisherKeepsOrderAcrossBrokerRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts the broker several times")
	}
	publishThroughRestarts(t, fleet.MQTTOptions{ClientID: "sim-order"}, 4, 6000, 5)
}

// publishThroughRestarts runs gens generators of count readings each at
// 1000/s through one publisher into Mosquitto, restarting the broker
// restarts times at even steps of the subscriber's progress, and checks
// that every reading was acknowledged and arrived, each generator's seqs
// in order apart from duplicates.
func publishThroughRestarts(t *testing.T, o fleet.MQTTOptions, gens int, count uint64, restarts int) {
	t.Helper()
	b := testenv.Mosquitto(t)
	r := newReceiver()
	subscribe(t, b.URL, r)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	o.Broker = b.URL
	pub, err := fleet.DialMQTT(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := fleet.New(fleet.Options{Generators: gens, Rate: 1000, Count: count, Seed: 3}, pub)
	runErr := make(chan error, 1)
	go func() { runErr <- f.Run(ctx) }()
	total := gens * int(count)
	for i := 1; i <= restarts; i++ {
		waitFor(t, func() bool { return r.count() > i*total/(restarts+3) })
		b.Stop()
		time.Sleep(200 * time.Millisecond)
		b.Start()
	}
	if err := <-runErr; err != nil {
		t.Fatal(err)
	}
	if err := pub.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, d := range f.Summary().Devices {
		if d.Acked != count || d.Published != count {
			t.Fatalf("%s: published %d acked %d", d.ID, d.Published, d.Acked)
		}
	}
	waitFor(t, func() bool { return r.count() >= total })
	checkReceived(t, r, count, gens)
	if n := r.reorders(); len(n) > 0 {
		t.Fatalf("seqs out of order per generator (%d restarts, %+v): %v", restarts, pub.Stats(), n)
	}
}

// reorders counts, per generator, the seqs that arrived after a higher seq
// without having arrived before: a resend of an already delivered seq is a
// duplicate, not a reorder.
func (r *receiver) reorders() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for id, seqs := range r.seen {
		have := map[uint64]bool{}
		var top uint64
		for _, s := range seqs {
			if s < top && !have[s] {
				out[id]++
			}
			have[s] = true
			top = max(top, s)
		}
	}
	return out
}

func checkReceived(t *testing.T, r *receiver, count uint64, gens int) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, seqs := range r.seen {
		have := map[uint64]bool{}
		for _, s := range seqs {
			have[s] = true
		}
		for s := uint64(1); s <= count; s++ {
			if !have[s] {
				t.Fatalf("%s: seq %d never arrived (%d messages)", id, s, len(seqs))
			}
		}
	}
	if len(r.seen) != gens {
		t.Fatalf("generators seen: %d", len(r.seen))
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(time.Minute); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met within a minute")
}

func TestPublisherWindowBoundsInFlight(t *testing.T) {
	b := testenv.Mosquitto(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pub, err := fleet.DialMQTT(ctx, fleet.MQTTOptions{Broker: b.URL, ClientID: "sim-window", Window: 10})
	if err != nil {
		t.Fatal(err)
	}
	b.Stop() // nothing is acknowledged now: the window must fill and block
	short, stop := context.WithTimeout(ctx, 2*time.Second)
	defer stop()
	n := 0
	for ; n < 100; n++ {
		if err := pub.Publish(short, "emergency_generator/x", []byte("{}"), nil); err != nil {
			break
		}
	}
	if n != 10 || pub.Stats().InFlight != 10 {
		t.Fatalf("published %d with the broker down (in flight %d), want the window of 10", n, pub.Stats().InFlight)
	}
	b.Start()
	if err := pub.Close(ctx); err != nil {
		t.Fatalf("close after broker restart: %v", err)
	}
	if s := pub.Stats(); s.Acked != 10 {
		t.Fatalf("stats %+v", s)
	}
}

func TestDialMQTTNoBroker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, err := fleet.DialMQTT(ctx, fleet.MQTTOptions{Broker: "tcp://127.0.0.1:1"}); err == nil {
		t.Fatal("dial to nowhere succeeded")
	}
}
