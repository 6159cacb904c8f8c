package fleet

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// forgetfulBroker accepts MQTT clients and acknowledges every PUBLISH but
// the first, as a broker that lost a PUBACK would.
func forgetfulBroker(t *testing.T) (url string, publishes *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	publishes = &atomic.Int32{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serveForgetful(c, publishes)
		}
	}()
	return "tcp://" + ln.Addr().String(), publishes
}

func serveForgetful(c net.Conn, publishes *atomic.Int32) {
	defer c.Close()
	for {
		cp, err := packets.ReadPacket(c)
		if err != nil {
			return
		}
		var reply packets.ControlPacket
		switch p := cp.(type) {
		case *packets.ConnectPacket:
			reply = packets.NewControlPacket(packets.Connack)
		case *packets.PingreqPacket:
			reply = packets.NewControlPacket(packets.Pingresp)
		case *packets.PublishPacket:
			if publishes.Add(1) > 1 {
				pa := packets.NewControlPacket(packets.Puback).(*packets.PubackPacket)
				pa.MessageID = p.MessageID
				reply = pa
			}
		}
		if reply != nil {
			if err := reply.Write(c); err != nil {
				return
			}
		}
	}
}

// TestPublisherRepublishesAfterAckTimeout: a message the broker never
// acknowledges counts as a broken connection; the publisher reconnects and
// sends it again, but not the messages that were acknowledged.
func TestPublisherRepublishesAfterAckTimeout(t *testing.T) {
	url, publishes := forgetfulBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := DialMQTT(ctx, MQTTOptions{Broker: url, AckTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var acked atomic.Int32
	for range 3 {
		if err := p.Publish(ctx, "emergency_generator/g1", []byte(`{}`), func() { acked.Add(1) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	if acked.Load() != 3 || st.Acked != 3 || st.Republished != 1 || st.Reconnects != 1 || publishes.Load() != 4 {
		t.Fatalf("acked %d, stats %+v, broker saw %d publishes; want 3 acked, 1 republished on 1 reconnect, 4 publishes",
			acked.Load(), st, publishes.Load())
	}
}
