package mqttconn_test

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgespool/edgespool/agent/mqttconn"
	"github.com/edgespool/edgespool/sim/testenv"
)

// TestQoS1RoundTripThroughMosquitto publishes a burst at QoS 1 from one
// client and receives it on another, both connected through Open, and
// checks that every message arrives once, in order (a broken coalescing
// or read buffer garbles or drops packets).
func TestQoS1RoundTripThroughMosquitto(t *testing.T) {
	broker := testenv.Mosquitto(t)
	roundTrip(t, broker.URL, broker.URL, 5000)
}

// TestWebsocketRoundTrip: ws:// goes through paho's own websocket
// connection (not wrapped), and must work all the same.
func TestWebsocketRoundTrip(t *testing.T) {
	port := testenv.FreePort(t)
	broker := testenv.Mosquitto(t, testenv.BrokerConfig(fmt.Sprintf("listener %d 127.0.0.1", port), "protocol websockets"))
	roundTrip(t, fmt.Sprintf("ws://127.0.0.1:%d", port), broker.URL, 500)
}

// roundTrip publishes n messages through pubURL and receives them through
// subURL (both connected through Open).
func roundTrip(t *testing.T, pubURL, subURL string, n int) {
	t.Helper()
	var mu sync.Mutex
	var got []string
	all := make(chan struct{})
	sub := connect(t, subURL, "rt-sub", func(o *mqtt.ClientOptions) {
		o.SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, string(m.Payload()))
			if len(got) == n {
				close(all)
			}
		})
	})
	if tok := sub.Subscribe("rt/+", 1, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	pub := connect(t, pubURL, "rt-pub", func(o *mqtt.ClientOptions) { o.SetOrderMatters(true) })
	var last mqtt.Token
	for i := range n {
		last = pub.Publish("rt/x", 1, false, fmt.Sprintf("m%05d", i))
	}
	if !last.WaitTimeout(30*time.Second) || last.Error() != nil {
		t.Fatalf("publish: %v", last.Error())
	}
	select {
	case <-all:
	case <-time.After(30 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("received %d of %d messages", len(got), n)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, m := range got {
		if want := fmt.Sprintf("m%05d", i); m != want {
			t.Fatalf("message %d is %q, want %q", i, m, want)
		}
	}
}

func connect(t *testing.T, broker, id string, opt func(*mqtt.ClientOptions)) mqtt.Client {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker(broker).SetClientID(id).
		SetCustomOpenConnectionFn(mqttconn.Open).SetConnectTimeout(10 * time.Second)
	opt(o)
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", id, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(250) })
	return c
}

func TestOpenRefusesUnknownSchemes(t *testing.T) {
	u, _ := url.Parse("gopher://127.0.0.1:1883")
	_, err := mqttconn.Open(u, *mqtt.NewClientOptions())
	if err == nil || !strings.Contains(err.Error(), `"gopher"`) {
		t.Fatalf("Open(gopher://) = %v, want an unknown scheme error", err)
	}
}

func TestOpenReportsDialErrors(t *testing.T) {
	u, _ := url.Parse("tcp://127.0.0.1:1") // nothing listens on port 1
	if _, err := mqttconn.Open(u, *mqtt.NewClientOptions().SetConnectTimeout(2 * time.Second)); err == nil {
		t.Fatal("Open to a closed port succeeded")
	}
}
