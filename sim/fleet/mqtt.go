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
	// AckTimeout: a message still unacknowledged after it is published
	// again with the same payload (default one minute). Reconnects do not
	// need it: the client resends unacknowledged messages itself.
	AckTimeout time.Duration
	Logger     *slog.Logger
}

// MQTTPublisher publishes at QoS 1 with a bounded window of unacknowledged
// messages, pipelined: Publish returns as soon as the message is handed to
// the client, and acknowledgements are collected in order by one goroutine.
// It reconnects forever; messages published while the broker is away are
// kept and sent after the reconnect, in order.
type MQTTPublisher struct {
	o       MQTTOptions
	c       mqtt.Client
	mu      sync.Mutex // orders Publish calls with the pending queue
	closed  bool
	window  chan struct{}
	pending chan inflight
	abort   chan struct{}
	aborted sync.Once
	done    chan struct{}

	published, acked, republished atomic.Uint64
}

type inflight struct {
	tok     mqtt.Token
	topic   string
	payload []byte
	acked   func()
}

// MQTTStats are a publisher's counters.
type MQTTStats struct {
	Published, Acked, Republished uint64
	InFlight                      int
}

// Publish hands one message to the client, blocking while the window is
// full. acked (may be nil) runs once the broker acknowledged it.
func (p *MQTTPublisher) Publish(ctx context.Context, topic string, payload []byte, acked func()) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	select {
	case p.window <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	in := inflight{topic: topic, payload: payload, acked: acked}
	in.tok = p.c.Publish(topic, p.qos(), false, payload)
	p.published.Add(1)
	p.pending <- in // never blocks: pending has the window's capacity
	return nil
}

func (p *MQTTPublisher) qos() byte {
	if p.o.QoS0 {
		return 0
	}
	return 1
}

// collect waits for the acknowledgements in publish order.
func (p *MQTTPublisher) collect() {
	defer close(p.done)
	timeout := time.NewTimer(p.o.AckTimeout)
	defer timeout.Stop()
	for in := range p.pending {
		if !p.await(in, timeout) {
			return
		}
		p.acked.Add(1)
		if in.acked != nil {
			in.acked()
		}
		<-p.window
	}
}

// await waits for in's acknowledgement, publishing it again after an error
// or AckTimeout (measured on timeout, collect's timer, rearmed per wait).
// It returns false when the publisher is aborted.
func (p *MQTTPublisher) await(in inflight, timeout *time.Timer) bool {
	for {
		if !isDone(in.tok) {
			timeout.Reset(p.o.AckTimeout) // Go 1.23+: no stale tick after Reset
			select {
			case <-in.tok.Done():
			case <-timeout.C:
			case <-p.abort:
				return false
			}
		}
		if in.tok.Error() == nil && isDone(in.tok) {
			return true
		}
		p.o.Logger.Warn("mqtt publish not acknowledged; publishing again",
			"topic", in.topic, "err", in.tok.Error())
		p.republished.Add(1)
		in.tok = p.c.Publish(in.topic, p.qos(), false, in.payload)
	}
}

func isDone(t mqtt.Token) bool {
	select {
	case <-t.Done():
		return true
	default:
		return false
	}
}

// Stats returns the publisher's counters.
func (p *MQTTPublisher) Stats() MQTTStats {
	return MQTTStats{
		Published:   p.published.Load(),
		Acked:       p.acked.Load(),
		Republished: p.republished.Load(),
		InFlight:    len(p.window),
	}
}

// Close stops accepting messages, waits until every published message is
// acknowledged or ctx ends, and disconnects. Messages still unacknowledged
// when ctx ends are abandoned and reported in the error.
func (p *MQTTPublisher) Close(ctx context.Context) error {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.pending)
	}
	p.mu.Unlock()
	var err error
	select {
	case <-p.done:
	case <-ctx.Done():
		p.aborted.Do(func() { close(p.abort) })
		<-p.done
		err = fmt.Errorf("mqtt close: %d messages unacknowledged: %w", len(p.window), ctx.Err())
	}
	p.c.Disconnect(250)
	return err
}
