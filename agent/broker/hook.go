package broker

import (
	"bytes"
	"errors"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// hook is the broker's mochi hook: connection limits, authentication,
// topic rules, and the publish path that hands every device PUBLISH to the
// intake instead of letting the server acknowledge it at once.
type hook struct {
	mqtt.HookBase
	b *Broker
}

func (h *hook) ID() string { return "edgespool" }

func (h *hook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnConnect, mqtt.OnConnectAuthenticate, mqtt.OnACLCheck,
		mqtt.OnSessionEstablished, mqtt.OnDisconnect, mqtt.OnPublish}, []byte{b})
}

// OnConnect refuses a connection beyond MaxConnections, and every one once
// the broker stops accepting.
func (h *hook) OnConnect(cl *mqtt.Client, _ packets.Packet) error {
	if h.b.isDraining() {
		return h.refuse(cl)
	}
	if atomic.LoadInt64(&h.b.server.Info.ClientsConnected) < int64(h.b.o.MaxConnections) {
		return nil
	}
	h.b.limited(LimitConnections, "connection refused: broker.max_connections reached",
		"client", cl.ID, "remote", cl.Net.Remote, "max", h.b.o.MaxConnections)
	return h.refuse(cl)
}

// refuse answers a CONNECT with "server unavailable" (MQTT 5: busy).
func (h *hook) refuse(cl *mqtt.Client) error {
	code := packets.ErrServerUnavailable
	if cl.Properties.ProtocolVersion == 5 {
		code = packets.ErrServerBusy
	}
	_ = h.b.server.SendConnack(cl, code, false, nil)
	return code
}

// OnConnectAuthenticate checks the user and password (or lets an anonymous
// client in when allowed).
func (h *hook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	name := string(pk.Connect.Username)
	ok := false
	if name == "" && !pk.Connect.PasswordFlag {
		ok = h.b.o.AllowAnonymous
	} else {
		ok = h.b.users.Load().authenticate(name, pk.Connect.Password)
	}
	if !ok {
		h.b.limited(LimitAuth, "connection refused: bad username or password",
			"client", cl.ID, "remote", cl.Net.Remote, "username", name)
	}
	return ok
}

// OnACLCheck applies the client's topic rules; the server refuses what
// they do not allow (PUBACK 0x87 or a disconnect for MQTT 3, SUBACK 0x87).
func (h *hook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	c := h.b.conn(cl)
	if c == nil {
		return false
	}
	if c.allows(topic, write) {
		return true
	}
	verb := "subscribe"
	if write {
		verb = "publish"
	}
	h.b.limited(LimitACL, "refused: topic outside the user's rules", "client", cl.ID,
		"username", string(cl.Properties.Username), "action", verb, "topic", topic)
	return false
}

// OnSessionEstablished creates the connection's state.
func (h *hook) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	h.b.conns.Store(cl, newConn(h.b, cl))
	h.b.open.Add(1)
	h.b.m.connections.Inc()
	h.b.m.connects.Inc()
}

// OnDisconnect drops the connection's state and counts an oversized packet.
func (h *hook) OnDisconnect(cl *mqtt.Client, err error, _ bool) {
	if errors.Is(err, packets.ErrPacketTooLarge) {
		h.b.limited(LimitPacketSize, "connection closed: packet over broker.max_packet_size",
			"client", cl.ID, "remote", cl.Net.Remote, "max", h.b.o.MaxPacketSize)
	}
	v, ok := h.b.conns.LoadAndDelete(cl)
	if !ok {
		return
	}
	v.(*conn).close()
	h.b.open.Add(-1)
	h.b.m.connections.Dec()
}

// OnPublish hands a device's PUBLISH to the intake and tells the server to
// do nothing more with it (no PUBACK now, no delivery): the connection's
// writer acknowledges it after the commit and passes it on to
// subscribers. Publications of the broker itself (alarms) pass through.
func (h *hook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	c := h.b.conn(cl)
	if c == nil || h.b.isDraining() {
		return pk, packets.ErrRejectPacket // not acknowledged: sent again
	}
	qos := min(pk.FixedHeader.Qos, 1)
	h.b.m.byQoS[qos].Inc()
	if qos == 0 && !c.qos0Warned {
		c.qos0Warned = true
		h.b.log.Warn("device publishes at QoS 0: its readings are stored but never acknowledged, and lost if "+
			"the gateway stops before the commit; publish at QoS 1", "client", cl.ID)
	}
	c.throttle()
	if !c.acquire() {
		return pk, packets.ErrRejectPacket
	}
	m := &message{c: c, topic: pk.TopicName, payload: pk.Payload, at: h.b.o.Now(), id: pk.PacketID,
		qos: qos, dup: pk.FixedHeader.Dup, retain: pk.FixedHeader.Retain}
	if !h.b.sink.Submit(m) {
		c.release(1)
	}
	return pk, packets.ErrRejectPacket
}
