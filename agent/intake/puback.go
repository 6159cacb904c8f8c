package intake

import (
	"net"
	"net/url"
	"strings"
	"sync/atomic"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/edgespool/edgespool/agent/mqttconn"
)

// pubacks writes the acknowledgements of one spool commit as one write of
// PUBACK packets on the broker connection, instead of handing each to
// paho's writer goroutine (a channel send, a goroutine switch and a store
// lookup per message: about a tenth of the agent's CPU at 20,000 messages/s).
//
// paho writes every packet with a single Write and mqttconn.Conn appends
// each Write whole, so PUBACKs written here never split a packet of paho's.
// They go only on a connection whose CONNACK paho has reported (live), and
// only once paho has written on it (its CONNECT comes first). When there
// is no live connection, or it has failed, send reports false and the
// caller acknowledges through paho, as before. An acknowledgement lost
// with a dying connection is the ordinary case of MQTT: the broker
// redelivers the message with DUP set and the intake drops the duplicate.
type pubacks struct {
	opened atomic.Pointer[mqttconn.Conn] // last connection dialled
	live   atomic.Pointer[mqttconn.Conn] // connection of the last CONNACK
	buf    []byte                        // commit goroutine only
	sent   atomic.Uint64                 // PUBACKs written here
}

// opener wraps paho's connections in mqttconn.Conn (options o) and
// remembers the last one; other connections (websockets) are not used.
func (p *pubacks) opener(o mqttconn.Options) mqtt.OpenConnectionFunc {
	open := mqttconn.Opener(o)
	return func(u *url.URL, co mqtt.ClientOptions) (net.Conn, error) {
		c, err := open(u, co)
		mc, _ := c.(*mqttconn.Conn)
		p.opened.Store(mc)
		return c, err
	}
}

// connected is called from paho's OnConnect: the last connection dialled
// has completed its CONNECT/CONNACK exchange.
func (p *pubacks) connected() { p.live.Store(p.opened.Load()) }

// send writes one PUBACK per QoS 1 message of batch, in batch order (the
// order paho delivered them, as MQTT requires). It returns false when
// nothing was written; the caller then acknowledges through paho.
func (p *pubacks) send(batch []item) bool {
	c := p.live.Load()
	if c == nil || !c.Wrote() { // CONNECT first, whatever the timing of OnConnect
		return false
	}
	p.buf = p.buf[:0]
	for i := range batch {
		if m := batch[i].msg; m.Qos() == 1 {
			id := m.MessageID()
			p.buf = append(p.buf, packets.Puback<<4, 2, byte(id>>8), byte(id))
		}
	}
	if len(p.buf) == 0 {
		return true
	}
	if _, err := c.Write(p.buf); err != nil {
		return false
	}
	p.sent.Add(uint64(len(p.buf) / 4))
	return true
}

// inboundStore is paho's store without inbound entries. paho keeps every
// received QoS 1 PUBLISH in its store until the PUBACK (a map insert and
// delete with formatted keys per message), yet a restarted connection
// discards stored inbound PUBLISHes unread; inbound entries only matter
// for QoS 2 (PUBREL), which the intake never uses: it subscribes at QoS 1
// and refuses any other grant. With acknowledgements written by pubacks,
// paho would never delete the entries either. Outbound entries (the
// alarm publications) are kept as before.
type inboundStore struct{ mqtt.Store }

func newInboundStore() inboundStore { return inboundStore{mqtt.NewMemoryStore()} }

func isInbound(key string) bool { return strings.HasPrefix(key, "i.") }

// Put drops inbound entries.
func (s inboundStore) Put(key string, p packets.ControlPacket) {
	if !isInbound(key) {
		s.Store.Put(key, p)
	}
}

// Get finds no inbound entries.
func (s inboundStore) Get(key string) packets.ControlPacket {
	if isInbound(key) {
		return nil
	}
	return s.Store.Get(key)
}

// Del ignores inbound keys (there are none).
func (s inboundStore) Del(key string) {
	if !isInbound(key) {
		s.Store.Del(key)
	}
}
