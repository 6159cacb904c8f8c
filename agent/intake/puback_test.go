package intake

import (
	"bytes"
	"io"
	"net"
	"testing"

	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/edgespool/edgespool/agent/mqttconn"
)

// message is an mqtt.Message with a QoS and an id.
type message struct {
	qos     byte
	id      uint16
	payload []byte
	acked   int
}

func (m *message) Duplicate() bool   { return false }
func (m *message) Qos() byte         { return m.qos }
func (m *message) Retained() bool    { return false }
func (m *message) Topic() string     { return "emergency_generator/g1" }
func (m *message) MessageID() uint16 { return m.id }
func (m *message) Payload() []byte   { return m.payload }
func (m *message) Ack()              { m.acked++ }

func batchOf(msgs ...*message) []item {
	b := make([]item, len(msgs))
	for i, m := range msgs {
		b[i].msg = m
	}
	return b
}

func TestPubacksWriteOnePacketPerQoS1MessageInOrder(t *testing.T) {
	near, far := net.Pipe()
	defer far.Close()
	var p pubacks
	batch := batchOf(&message{qos: 1, id: 1}, &message{qos: 0}, &message{qos: 1, id: 0x1234}, &message{qos: 1, id: 0xff00})
	if p.send(batch) {
		t.Fatal("send without a connection reported success")
	}
	p.opened.Store(mqttconn.Wrap(near))
	if p.send(batch) {
		t.Fatal("send before CONNACK reported success")
	}
	p.connected()
	if p.send(batch) {
		t.Fatal("send before paho's CONNECT reported success")
	}
	if _, err := p.live.Load().Write([]byte{0x10}); err != nil { // stands for the CONNECT
		t.Fatal(err)
	}
	if !p.send(batch) {
		t.Fatal("send on a live connection failed")
	}
	want := []byte{0x10, 0x40, 2, 0, 1, 0x40, 2, 0x12, 0x34, 0x40, 2, 0xff, 0}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(far, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("wrote % x, want % x", got, want)
	}
	// What was written decodes as paho's own PUBACKs.
	for i, id := range []uint16{1, 0x1234, 0xff00} {
		cp, err := packets.ReadPacket(bytes.NewReader(want[1+4*i : 5+4*i]))
		if err != nil {
			t.Fatal(err)
		}
		if pa, ok := cp.(*packets.PubackPacket); !ok || pa.MessageID != id {
			t.Fatalf("packet %d: %v", i, cp)
		}
	}
	if n := p.sent.Load(); n != 3 {
		t.Fatalf("sent %d", n)
	}
	for _, it := range batch {
		if it.msg.(*message).acked != 0 {
			t.Fatal("paho's Ack was called too")
		}
	}
}

func TestPubacksReportFailureOnAClosedConnection(t *testing.T) {
	near, far := net.Pipe()
	defer far.Close()
	var p pubacks
	c := mqttconn.Wrap(near)
	p.opened.Store(c)
	p.connected()
	go io.Copy(io.Discard, far)
	if _, err := c.Write([]byte{0x10}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if p.send(batchOf(&message{qos: 1, id: 7})) {
		t.Fatal("send on a closed connection reported success")
	}
	if !p.send(batchOf(&message{qos: 0})) {
		t.Fatal("a batch without QoS 1 messages needs no write")
	}
}

func TestInboundStoreKeepsOnlyOutboundEntries(t *testing.T) {
	s := newInboundStore()
	s.Open()
	defer s.Close()
	pub := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
	s.Put("i.5", pub)
	s.Put("o.5", pub)
	if s.Get("i.5") != nil {
		t.Fatal("inbound entry stored")
	}
	if s.Get("o.5") != pub {
		t.Fatal("outbound entry lost")
	}
	if keys := s.All(); len(keys) != 1 || keys[0] != "o.5" {
		t.Fatalf("keys %v", keys)
	}
	s.Del("i.5")
	s.Del("o.5")
	if len(s.All()) != 0 {
		t.Fatalf("keys %v after Del", s.All())
	}
}
