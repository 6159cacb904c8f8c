package pahoack

import (
	"bytes"
	"io"
	"net"
	"testing"

	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/edgespool/edgespool/agent/mqttconn"
)

func TestWriterWritesOnePacketPerIDInOrder(t *testing.T) {
	near, far := net.Pipe()
	defer far.Close()
	var p Writer
	ids := []uint16{1, 0x1234, 0xff00}
	if p.Send(ids) {
		t.Fatal("send without a connection reported success")
	}
	p.opened.Store(mqttconn.Wrap(near))
	if p.Send(ids) {
		t.Fatal("send before CONNACK reported success")
	}
	p.Connected()
	if p.Send(ids) {
		t.Fatal("send before paho's CONNECT reported success")
	}
	if _, err := p.live.Load().Write([]byte{0x10}); err != nil { // stands for the CONNECT
		t.Fatal(err)
	}
	if !p.Send(ids) {
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
	for i, id := range ids {
		cp, err := packets.ReadPacket(bytes.NewReader(want[1+4*i : 5+4*i]))
		if err != nil {
			t.Fatal(err)
		}
		if pa, ok := cp.(*packets.PubackPacket); !ok || pa.MessageID != id {
			t.Fatalf("packet %d: %v", i, cp)
		}
	}
	if n := p.Sent(); n != 3 {
		t.Fatalf("sent %d", n)
	}
}

func TestWriterReportsFailureOnAClosedConnection(t *testing.T) {
	near, far := net.Pipe()
	defer far.Close()
	var p Writer
	c := mqttconn.Wrap(near)
	p.opened.Store(c)
	p.Connected()
	go io.Copy(io.Discard, far)
	if _, err := c.Write([]byte{0x10}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if p.Send([]uint16{7}) {
		t.Fatal("send on a closed connection reported success")
	}
	if !p.Send(nil) {
		t.Fatal("no ids need no write")
	}
}

func TestStoreKeepsOnlyOutboundEntries(t *testing.T) {
	s := NewStore()
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
