package pahoack

import (
	"bytes"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// The tests in this file pin the paho behaviour the package relies on (see
// the package doc), with a real paho client against a scripted broker on
// an in-memory connection.

// writeLog is a client connection that keeps every Write call.
type writeLog struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
}

func (w *writeLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.writes = append(w.writes, slices.Clone(p))
	w.mu.Unlock()
	return w.Conn.Write(p)
}

func (w *writeLog) calls() [][]byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.writes)
}

// keyLog is a paho store that keeps the keys of every Put.
type keyLog struct {
	mqtt.Store
	mu   sync.Mutex
	keys []string
}

func (s *keyLog) Put(key string, p packets.ControlPacket) {
	s.mu.Lock()
	s.keys = append(s.keys, key)
	s.mu.Unlock()
	s.Store.Put(key, p)
}

func (s *keyLog) puts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.keys)
}

// fakeBroker answers paho on conn: CONNACK, SUBACK, PUBACK, PINGRESP; it
// sends what arrives on push, and reports the PUBACKs it receives.
func fakeBroker(conn net.Conn, push <-chan packets.ControlPacket, acked chan<- uint16) {
	go func() {
		for p := range push {
			if p.Write(conn) != nil {
				return
			}
		}
	}()
	for {
		cp, err := packets.ReadPacket(conn)
		if err != nil {
			return
		}
		if pa, ok := cp.(*packets.PubackPacket); ok {
			acked <- pa.MessageID
		}
		if reply := replyTo(cp); reply != nil && reply.Write(conn) != nil {
			return
		}
	}
}

// replyTo is the broker's answer to cp, nil for none.
func replyTo(cp packets.ControlPacket) packets.ControlPacket {
	switch p := cp.(type) {
	case *packets.ConnectPacket:
		return packets.NewControlPacket(packets.Connack)
	case *packets.SubscribePacket:
		sa := packets.NewControlPacket(packets.Suback).(*packets.SubackPacket)
		sa.MessageID, sa.ReturnCodes = p.MessageID, []byte{1}
		return sa
	case *packets.PublishPacket:
		pa := packets.NewControlPacket(packets.Puback).(*packets.PubackPacket)
		pa.MessageID = p.MessageID
		return pa
	case *packets.PingreqPacket:
		return packets.NewControlPacket(packets.Pingresp)
	}
	return nil
}

// pahoSession connects a paho client, configured as the intake configures
// it, to a fake broker, subscribes, publishes one message and receives
// (and acknowledges through paho) one at QoS 1 with id 7.
func pahoSession(t *testing.T) (*writeLog, *keyLog) {
	t.Helper()
	client, server := net.Pipe()
	push, acked := make(chan packets.ControlPacket, 1), make(chan uint16, 1)
	go fakeBroker(server, push, acked)
	t.Cleanup(func() { close(push); server.Close() })
	conn := &writeLog{Conn: client}
	store := &keyLog{Store: mqtt.NewMemoryStore()}
	co := mqtt.NewClientOptions().AddBroker("tcp://fake:1883").SetClientID("pin").
		SetCleanSession(false).SetOrderMatters(true).SetAutoAckDisabled(true).SetAutoReconnect(false).
		SetStore(store).SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { m.Ack() }).
		SetCustomOpenConnectionFn(func(*url.URL, mqtt.ClientOptions) (net.Conn, error) { return conn, nil })
	c := mqtt.NewClient(co)
	wait := func(what string, tok mqtt.Token) {
		if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("%s: %v", what, tok.Error())
		}
	}
	wait("connect", c.Connect())
	t.Cleanup(func() { c.Disconnect(0) })
	wait("subscribe", c.Subscribe("emergency_generator/#", 1, nil))
	wait("publish", c.Publish("emergency_generator/g1/alarm", 1, false, strings.Repeat("x", 300)))
	in := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
	in.Qos, in.MessageID, in.TopicName, in.Payload = 1, 7, "emergency_generator/g1", []byte(`{"fuel":1}`)
	push <- in
	select {
	case id := <-acked:
		if id != 7 {
			t.Fatalf("PUBACK for %d, want 7", id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no PUBACK from paho")
	}
	return conn, store
}

// TestPahoWritesEachPacketInOneWrite pins that paho hands each control
// packet to the connection in exactly one Write call: Writer's PUBACKs,
// appended between two Writes, then never split one of paho's packets.
func TestPahoWritesEachPacketInOneWrite(t *testing.T) {
	conn, _ := pahoSession(t)
	var kinds []string
	for i, w := range conn.calls() {
		r := bytes.NewReader(w)
		cp, err := packets.ReadPacket(r)
		if err != nil {
			t.Fatalf("write %d (% x) is not a whole packet: %v", i, w, err)
		}
		if r.Len() != 0 {
			t.Fatalf("write %d holds more than one packet (%s and %d more bytes)", i, cp, r.Len())
		}
		kinds = append(kinds, fmt.Sprintf("%T", cp))
	}
	for _, want := range []string{"*packets.ConnectPacket", "*packets.SubscribePacket",
		"*packets.PublishPacket", "*packets.PubackPacket"} {
		if !slices.Contains(kinds, want) {
			t.Errorf("no %s among paho's writes %v", want, kinds)
		}
	}
}

// TestPahoInboundStoreKeysStartWithI pins paho's store keys: a received
// QoS 1 message is stored under "i.<id>", an outbound one under "o.<id>",
// which is what Store tells apart.
func TestPahoInboundStoreKeysStartWithI(t *testing.T) {
	_, store := pahoSession(t)
	keys := store.puts()
	if !slices.Contains(keys, "i.7") {
		t.Errorf("received message 7 not stored as i.7: keys %v", keys)
	}
	for _, k := range keys {
		if k != "i.7" && !strings.HasPrefix(k, "o.") {
			t.Errorf("store key %q is neither inbound i.7 nor outbound o.*", k)
		}
	}
	if !slices.ContainsFunc(keys, func(k string) bool { return strings.HasPrefix(k, "o.") }) {
		t.Errorf("no outbound key among %v", keys)
	}
}
