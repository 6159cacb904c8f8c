package fleet

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/edgespool/edgespool/agent/clock"
)

// MQTT publisher defaults and limits.
const (
	DefaultWindow     = 1000
	MaxWindow         = 65535 // paho runs out of message ids beyond this
	DefaultAckTimeout = time.Minute
)

// ErrClosed is returned by Publish after Close.
var ErrClosed = errors.New("publisher closed")

// MQTTOptions configure an MQTTPublisher. Zero values mean the defaults.
type MQTTOptions struct {
	Broker             string // e.g. "tcp://127.0.0.1:1883"; required
	ClientID           string // default "edgespool-sim"
	Username, Password string
	TLS                *tls.Config
	// QoS0 publishes at QoS 0 like the reference simulator (no acks: every
	// message counts as acknowledged once written). Default QoS 1.
	QoS0 bool
	// Window bounds the unacknowledged messages (default 1000, max 65535).
	Window int
	// AckTimeout: a message still unacknowledged after it counts as a
	// broken connection: the publisher reconnects and sends the
	// unacknowledged messages again (default one minute).
	AckTimeout time.Duration
	Logger     *slog.Logger
	// Clock times the reconnect pauses (default the real clock).
	Clock clock.Clock
}

// MQTTPublisher publishes at QoS 1 with a bounded window of unacknowledged
// messages, pipelined: Publish queues the message and returns, a sender
// goroutine per connection hands the queue to the client in order, and
// acknowledgements are collected in order by one goroutine.
//
// The publisher owns its reconnects (the paho client neither reconnects nor
// resends on its own): after a connection fails, the next connection's
// sender starts from the oldest unacknowledged message and goes through the
// queue in order, so the messages that were not acknowledged go out again
// before any new one and a subscriber sees each publisher's messages in
// order apart from duplicates. Messages published while the broker is away
// are queued (within the window) and go out after the older ones.
type MQTTPublisher struct {
	o     MQTTOptions
	cond  *sync.Cond // on mu: the queue, a token, the connection or closed changed
	life  context.Context
	stop  context.CancelFunc // aborts collect, the senders and reconnects
	done  chan struct{}      // closed when collect returns
	dials atomic.Uint64      // numbers connections

	window chan struct{} // one slot per unacknowledged message

	mu      sync.Mutex
	c       mqtt.Client // current connection
	gen     uint64      // number of c
	up      bool        // c is connected and its sender running
	upSince time.Time   // when c came up
	queue   []*inflight // unacknowledged messages in publish order
	queued  uint64      // messages ever queued: numbers them
	closed  bool

	published, acked, republished, reconnects atomic.Uint64
}

// inflight is one unacknowledged message. tok (nil until first sent) and
// gen (the connection tok belongs to) are guarded by the publisher's mu.
type inflight struct {
	n       uint64 // position in publish order
	topic   string
	payload []byte
	acked   func()
	tok     mqtt.Token
	gen     uint64
}

// MQTTStats are a publisher's counters. Republished counts messages sent
// again after a connection failed or an acknowledgement timed out.
type MQTTStats struct {
	Published, Acked, Republished, Reconnects uint64
	InFlight                                  int
}

// Publish queues one message for sending, blocking while the window is
// full. acked (may be nil) runs once the broker acknowledged it.
func (p *MQTTPublisher) Publish(ctx context.Context, topic string, payload []byte, acked func()) error {
	if p.isClosed() {
		return ErrClosed
	}
	select {
	case p.window <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := p.enqueue(&inflight{topic: topic, payload: payload, acked: acked}); err != nil {
		<-p.window
		return err
	}
	p.published.Add(1)
	return nil
}

func (p *MQTTPublisher) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

func (p *MQTTPublisher) enqueue(in *inflight) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	in.n = p.queued
	p.queued++
	p.queue = append(p.queue, in)
	p.cond.Broadcast()
	return nil
}

func (p *MQTTPublisher) qos() byte {
	if p.o.QoS0 {
		return 0
	}
	return 1
}

// collect waits for the acknowledgements in publish order. A failed or
// timed out acknowledgement fails its connection; the message's next
// token comes from the next connection's sender.
func (p *MQTTPublisher) collect() {
	defer close(p.done)
	timeout := time.NewTimer(p.o.AckTimeout)
	defer timeout.Stop()
	var failed mqtt.Token
	for {
		in, tok, gen, ok := p.head(failed)
		if !ok {
			return
		}
		err, ok := p.await(tok, timeout)
		if !ok {
			return
		}
		if err == nil {
			p.pop(in)
			failed = nil
			continue
		}
		failed = tok
		p.mu.Lock()
		p.failLocked(gen, err)
		p.mu.Unlock()
	}
}

// head waits for the oldest unacknowledged message to have a token other
// than failed; false when the publisher is closed and drained, or aborted.
func (p *MQTTPublisher) head(failed mqtt.Token) (in *inflight, tok mqtt.Token, gen uint64, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.life.Err() == nil {
		if len(p.queue) > 0 {
			if in = p.queue[0]; in.tok != nil && in.tok != failed {
				return in, in.tok, in.gen, true
			}
		} else if p.closed {
			break
		}
		p.cond.Wait()
	}
	return nil, nil, 0, false
}

// await waits for tok (AckTimeout at most, measured on timeout, rearmed per
// wait). ok is false when the publisher is aborted.
func (p *MQTTPublisher) await(tok mqtt.Token, timeout *time.Timer) (err error, ok bool) {
	if !isDone(tok) {
		timeout.Reset(p.o.AckTimeout) // Go 1.23+: no stale tick after Reset
		select {
		case <-tok.Done():
		case <-timeout.C:
			return fmt.Errorf("not acknowledged within %v", p.o.AckTimeout), true
		case <-p.life.Done():
			return nil, false
		}
	}
	return tok.Error(), true
}

// pop removes the acknowledged head of the queue and reports it.
func (p *MQTTPublisher) pop(in *inflight) {
	p.mu.Lock()
	p.queue[0] = nil
	p.queue = p.queue[1:]
	p.mu.Unlock()
	p.acked.Add(1)
	if in.acked != nil {
		in.acked()
	}
	<-p.window
}

func isDone(t mqtt.Token) bool {
	select {
	case <-t.Done():
		return true
	default:
		return false
	}
}

// acknowledged: tok completed without error.
func acknowledged(t mqtt.Token) bool { return t != nil && isDone(t) && t.Error() == nil }

// Stats returns the publisher's counters.
func (p *MQTTPublisher) Stats() MQTTStats {
	return MQTTStats{
		Published:   p.published.Load(),
		Acked:       p.acked.Load(),
		Republished: p.republished.Load(),
		Reconnects:  p.reconnects.Load(),
		InFlight:    len(p.window),
	}
}

// Close stops accepting messages, waits until every published message is
// acknowledged or ctx ends, and disconnects. Messages still unacknowledged
// when ctx ends are abandoned and reported in the error.
func (p *MQTTPublisher) Close(ctx context.Context) error {
	p.mu.Lock()
	p.closed = true
	p.cond.Broadcast()
	p.mu.Unlock()
	var err error
	select {
	case <-p.done:
	case <-ctx.Done():
		p.abort()
		<-p.done
		err = fmt.Errorf("mqtt close: %d messages unacknowledged: %w", len(p.window), ctx.Err())
	}
	p.abort()
	p.mu.Lock()
	c := p.c
	p.up = false
	p.mu.Unlock()
	c.Disconnect(250)
	return err
}

// abort stops collect, the senders and any reconnect.
func (p *MQTTPublisher) abort() {
	p.stop()
	p.mu.Lock()
	p.cond.Broadcast()
	p.mu.Unlock()
}
