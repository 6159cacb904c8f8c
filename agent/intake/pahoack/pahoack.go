// Package pahoack writes MQTT PUBACKs on paho's connection directly: the
// acknowledgements of one spool commit go out as one write, instead of
// one paho Ack each (a channel send, a goroutine switch and a store
// lookup per message: about a tenth of the agent's CPU at 20,000
// messages/s).
//
// It relies on two things paho does not promise, which the tests of this
// package pin against the paho version in go.mod (a paho upgrade that
// changes them fails TestPahoWritesEachPacketInOneWrite or
// TestPahoInboundStoreKeysStartWithI):
//
//   - paho writes every packet with a single Write on the connection, so
//     that PUBACKs written here (mqttconn.Conn appends each Write whole)
//     never split a packet of paho's;
//   - paho keys the store entries of received messages "i.<id>", so that
//     Store can leave them out.
//
// The intake can turn the direct path off (intake.Options.DisableDirectAck)
// and acknowledge through paho's own Ack.
package pahoack

import (
	"net"
	"net/url"
	"strings"
	"sync/atomic"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/edgespool/edgespool/agent/mqttconn"
)

// Writer writes the PUBACKs of one batch of messages in one write. They
// go only on a connection whose CONNACK paho has reported (live), and only
// once paho has written on it (its CONNECT comes first). When there is no
// live connection, or it has failed, Send reports false and the caller
// acknowledges through paho. An acknowledgement lost with a dying
// connection is the ordinary case of MQTT: the broker redelivers the
// message with DUP set.
//
// Opener and Connected are called by paho's goroutines, Send by one
// goroutine at a time.
type Writer struct {
	opened atomic.Pointer[mqttconn.Conn] // last connection dialled
	live   atomic.Pointer[mqttconn.Conn] // connection of the last CONNACK
	buf    []byte                        // Send only
	sent   atomic.Uint64                 // PUBACKs written here
}

// Opener wraps paho's connections in mqttconn.Conn (options o) and
// remembers the last one; other connections (websockets) are not used.
// Give it to ClientOptions.SetCustomOpenConnectionFn.
func (p *Writer) Opener(o mqttconn.Options) mqtt.OpenConnectionFunc {
	open := mqttconn.Opener(o)
	return func(u *url.URL, co mqtt.ClientOptions) (net.Conn, error) {
		c, err := open(u, co)
		mc, _ := c.(*mqttconn.Conn)
		p.opened.Store(mc)
		return c, err
	}
}

// Connected is to be called from paho's OnConnect: the last connection
// dialled has completed its CONNECT/CONNACK exchange.
func (p *Writer) Connected() { p.live.Store(p.opened.Load()) }

// Send writes one PUBACK per id, in the order given (the order paho
// delivered the QoS 1 messages, as MQTT requires). It returns false when
// nothing was written; the caller then acknowledges through paho.
func (p *Writer) Send(ids []uint16) bool {
	if len(ids) == 0 {
		return true
	}
	c := p.live.Load()
	if c == nil || !c.Wrote() { // CONNECT first, whatever the timing of OnConnect
		return false
	}
	p.buf = p.buf[:0]
	for _, id := range ids {
		p.buf = append(p.buf, packets.Puback<<4, 2, byte(id>>8), byte(id))
	}
	if _, err := c.Write(p.buf); err != nil {
		return false
	}
	p.sent.Add(uint64(len(ids)))
	return true
}

// Sent is the count of PUBACKs written by Send.
func (p *Writer) Sent() uint64 { return p.sent.Load() }

// Store is paho's store without inbound entries. paho keeps every
// received QoS 1 PUBLISH in its store until the PUBACK (a map insert and
// delete with formatted keys per message), yet a restarted connection
// discards stored inbound PUBLISHes unread; inbound entries only matter
// for QoS 2 (PUBREL), which the intake never uses: it subscribes at QoS 1
// and refuses any other grant. With acknowledgements written by pubacks,
// paho would never delete the entries either. Outbound entries (the
// alarm publications) are kept as before. Use it only with Writer and a
// client that never receives at QoS 2.
type Store struct{ mqtt.Store }

// NewStore returns a Store over paho's memory store.
func NewStore() Store { return Store{mqtt.NewMemoryStore()} }

func isInbound(key string) bool { return strings.HasPrefix(key, "i.") }

// Put drops inbound entries.
func (s Store) Put(key string, p packets.ControlPacket) {
	if !isInbound(key) {
		s.Store.Put(key, p)
	}
}

// Get finds no inbound entries.
func (s Store) Get(key string) packets.ControlPacket {
	if isInbound(key) {
		return nil
	}
	return s.Store.Get(key)
}

// Del ignores inbound keys (there are none).
func (s Store) Del(key string) {
	if !isInbound(key) {
		s.Store.Del(key)
	}
}
