package broker

import (
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"golang.org/x/time/rate"

	"github.com/edgespool/edgespool/agent/intake"
)

// MQTT 5 reason code of a PUBACK for a payload the agent rejected (it is
// in the dead-letter stream; the publisher must not send it again).
const reasonPayloadFormatInvalid = 0x99

// message is one device PUBLISH on its way through the intake. Ack and
// AckRejected hand it back to its connection's writer.
type message struct {
	c       *conn
	topic   string
	payload []byte
	at      time.Time
	id      uint16
	qos     byte
	dup     bool
	retain  bool
	code    byte // PUBACK reason code (MQTT 5); 0 success
}

var _ intake.RejectAcker = (*message)(nil)

func (m *message) Topic() string     { return m.topic }
func (m *message) Payload() []byte   { return m.payload }
func (m *message) Qos() byte         { return m.qos }
func (m *message) Duplicate() bool   { return m.dup }
func (m *message) MessageID() uint16 { return m.id }
func (m *message) Ack()              { m.c.acked(m) }

// AckRejected acknowledges a message whose payload went to the dead-letter
// stream: with reason code 0x99 (payload format invalid) for MQTT 5.
func (m *message) AckRejected(string) {
	m.code = reasonPayloadFormatInvalid
	m.c.acked(m)
}

// conn is the broker's state for one device connection: its in-flight
// window, rate cap, topic rules, and the goroutine that writes its
// acknowledgements in arrival order once the intake has committed them.
type conn struct {
	b      *Broker
	cl     *mqtt.Client
	v5     bool
	window chan struct{} // one token per message in the intake
	lim    *rate.Limiter // nil: no cap

	rulesMu sync.Mutex
	rules   *rules
	rulesOf *users // the users snapshot rules was computed from

	mu        sync.Mutex
	pending   []*message
	unwritten atomic.Int64 // acknowledged by the intake, not yet written
	wake      chan struct{}
	done      chan struct{}
	stopped   chan struct{}

	qos0Warned bool // read goroutine only
}

func newConn(b *Broker, cl *mqtt.Client) *conn {
	c := &conn{b: b, cl: cl, v5: cl.Properties.ProtocolVersion == 5,
		window: make(chan struct{}, b.o.ReceiveMaximum),
		wake:   make(chan struct{}, 1), done: make(chan struct{}), stopped: make(chan struct{})}
	if b.o.MaxRate > 0 {
		c.lim = rate.NewLimiter(rate.Limit(b.o.MaxRate), b.o.RateBurst)
	}
	go c.writeLoop()
	return c
}

// allows applies the client's topic rules, recomputed after a users reload.
func (c *conn) allows(topic string, write bool) bool {
	u := c.b.users.Load()
	c.rulesMu.Lock()
	if c.rulesOf != u {
		c.rules, c.rulesOf = u.rulesFor(string(c.cl.Properties.Username)), u
	}
	r := c.rules
	c.rulesMu.Unlock()
	return r.allows(topic, write)
}

// throttle waits for the connection's rate cap (the read goroutine waits,
// so the device is read more slowly).
func (c *conn) throttle() {
	if c.lim == nil {
		return
	}
	r := c.lim.Reserve()
	d := r.Delay()
	if d <= 0 {
		return
	}
	c.b.limited(LimitRate, "device publishes faster than broker.max_rate; reading it more slowly",
		"client", c.cl.ID, "rate", c.b.o.MaxRate)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.b.draining:
	}
}

// acquire takes a window slot, waiting while the window is full; false
// when the broker is stopping.
func (c *conn) acquire() bool {
	select {
	case c.window <- struct{}{}:
		return true
	default:
	}
	c.b.limited(LimitWindow, "device fills its in-flight window (broker.receive_maximum); waiting for commits",
		"client", c.cl.ID, "window", cap(c.window))
	select {
	case c.window <- struct{}{}:
		return true
	case <-c.b.draining:
		return false
	}
}

func (c *conn) release(n int) {
	for range n {
		<-c.window
	}
}

// acked queues m for the writer; called by the intake's commit goroutine.
func (c *conn) acked(m *message) {
	c.unwritten.Add(1)
	c.mu.Lock()
	c.pending = append(c.pending, m)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// writeLoop writes the PUBACKs of what the intake committed, in order, in
// one write per wake-up, then frees their window slots and passes the
// messages on to local subscribers.
func (c *conn) writeLoop() {
	defer close(c.stopped)
	var batch []*message
	var buf []byte
	for stop := false; !stop; {
		select {
		case <-c.wake:
		case <-c.done:
			stop = true // write what is pending, then stop
		}
		c.mu.Lock()
		batch, c.pending = c.pending, batch[:0]
		c.mu.Unlock()
		buf = c.writeAcks(batch, buf[:0])
		c.unwritten.Add(-int64(len(batch)))
		c.release(len(batch))
		c.b.forward(batch)
		clear(batch)
	}
}

// writeAcks encodes and writes the PUBACKs of batch's QoS 1 messages.
func (c *conn) writeAcks(batch []*message, buf []byte) []byte {
	for _, m := range batch {
		switch {
		case m.qos == 0:
		case m.code != 0 && c.v5:
			buf = append(buf, 0x40, 3, byte(m.id>>8), byte(m.id), m.code)
		default:
			buf = append(buf, 0x40, 2, byte(m.id>>8), byte(m.id))
		}
	}
	if len(buf) == 0 {
		return buf
	}
	c.cl.Lock() // mochi writes whole packets under the same lock
	_, err := c.cl.Net.Conn.Write(buf)
	c.cl.Unlock()
	if err != nil {
		c.b.m.ackErrors.Inc()
		return buf
	}
	now := c.b.o.Now()
	for _, m := range batch {
		if m.qos > 0 {
			c.b.m.ackSeconds.Observe(now.Sub(m.at).Seconds())
		}
	}
	return buf
}

// flushPending writes the acknowledgements pending now and waits for the
// writer to finish them (at shutdown, after the intake's last commit).
func (c *conn) flushPending() {
	for i := 0; i < 200 && c.unwritten.Load() > 0; i++ {
		time.Sleep(5 * time.Millisecond)
	}
}

// close writes what is pending and stops the writer; acknowledgements that
// arrive later are dropped (the device publishes those messages again).
func (c *conn) close() {
	close(c.done)
	<-c.stopped
}
