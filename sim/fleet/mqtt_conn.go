package fleet

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgespool/edgespool/agent/backoff"
	"github.com/edgespool/edgespool/agent/clock"
	"github.com/edgespool/edgespool/agent/mqttconn"
)

func (o MQTTOptions) withDefaults() MQTTOptions {
	if o.ClientID == "" {
		o.ClientID = "edgespool-sim"
	}
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	o.Window = min(o.Window, MaxWindow)
	if o.AckTimeout <= 0 {
		o.AckTimeout = DefaultAckTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.Logger = o.Logger.With("client", o.ClientID)
	o.Clock = clock.Or(o.Clock)
	return o
}

// writeLinger gathers the messages a fleet publishes within a millisecond
// into one write (at thousands of messages a second, system calls are
// most of a publisher's cost); it delays each by at most that.
const writeLinger = time.Millisecond

// Connection timing: how long a connect or a hand-over of one message to
// the client may take before the connection counts as broken, and the
// pauses between failed connects.
const (
	connectTimeout   = 10 * time.Second
	writeTimeout     = 10 * time.Second
	minRetryInterval = 250 * time.Millisecond
	maxRetryInterval = 2 * time.Second
)

// clientOptions are the options of connection gen. The client neither
// reconnects nor resends by itself: the publisher does both, in order.
func (p *MQTTPublisher) clientOptions(gen uint64) *mqtt.ClientOptions {
	o := p.o
	co := mqtt.NewClientOptions().AddBroker(o.Broker).SetClientID(o.ClientID).
		SetUsername(o.Username).SetPassword(o.Password).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectRetry(false).
		SetConnectTimeout(connectTimeout).SetWriteTimeout(writeTimeout).
		SetKeepAlive(10 * time.Second).
		SetCustomOpenConnectionFn(mqttconn.Opener(mqttconn.Options{Linger: writeLinger}))
	if o.TLS != nil {
		co.SetTLSConfig(o.TLS)
	}
	co.SetConnectionLostHandler(func(_ mqtt.Client, err error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.failLocked(gen, err)
	})
	return co
}

// DialMQTT connects to the broker, waiting until the first connection is up
// or ctx ends.
func DialMQTT(ctx context.Context, o MQTTOptions) (*MQTTPublisher, error) {
	if o.Broker == "" {
		return nil, fmt.Errorf("mqtt: no broker address")
	}
	o = o.withDefaults()
	p := &MQTTPublisher{
		o:      o,
		window: make(chan struct{}, o.Window),
		done:   make(chan struct{}),
	}
	p.cond = sync.NewCond(&p.mu)
	p.life, p.stop = context.WithCancel(context.Background())
	c, gen, err := p.connect(ctx)
	if err != nil {
		p.stop()
		return nil, fmt.Errorf("mqtt connect %s: %w", o.Broker, err)
	}
	p.mu.Lock()
	p.resumeLocked(c, gen)
	p.mu.Unlock()
	go p.collect()
	return p, nil
}

// connect retries until a new connection is up or ctx ends.
func (p *MQTTPublisher) connect(ctx context.Context) (mqtt.Client, uint64, error) {
	retry := backoff.New(backoff.Options{Min: minRetryInterval, Max: maxRetryInterval, Clock: p.o.Clock})
	for {
		gen := p.dials.Add(1)
		c := mqtt.NewClient(p.clientOptions(gen))
		tok := c.Connect()
		select {
		case <-tok.Done():
		case <-ctx.Done():
			go c.Disconnect(0) // waits for the attempt to end
			return nil, 0, ctx.Err()
		}
		if tok.Error() == nil {
			return c, gen, nil
		}
		pause := retry.Next()
		p.o.Logger.Debug("mqtt connect failed; retrying", "broker", p.o.Broker, "err", tok.Error(), "in", pause)
		if err := clock.Sleep(ctx, p.o.Clock, pause); err != nil {
			return nil, 0, err
		}
	}
}

// failLocked takes connection gen down if it is the current one and up,
// and starts reconnecting. Messages queue until the next connection is up.
func (p *MQTTPublisher) failLocked(gen uint64, err error) {
	if gen != p.gen || !p.up {
		return
	}
	p.up = false
	p.cond.Broadcast() // the connection's sender exits
	p.o.Logger.Warn("mqtt connection lost; reconnecting", "err", err, "unacknowledged", len(p.queue))
	go p.reconnect(p.c, p.o.Clock.Now().Sub(p.upSince) < maxRetryInterval)
}

// reconnect replaces the failed connection old until a new one is up, or
// the publisher is aborted. After a short-lived connection it pauses first,
// so a broker that drops every connection is not hammered.
func (p *MQTTPublisher) reconnect(old mqtt.Client, pause bool) {
	old.Disconnect(0) // completes its tokens, with errors unless acknowledged
	if pause && clock.Sleep(p.life, p.o.Clock, minRetryInterval) != nil {
		return
	}
	c, gen, err := p.connect(p.life)
	if err != nil {
		return
	}
	p.reconnects.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.life.Err() != nil {
		go c.Disconnect(0)
		return
	}
	p.o.Logger.Info("mqtt reconnected", "broker", p.o.Broker, "unacknowledged", len(p.queue))
	p.resumeLocked(c, gen)
}

// resumeLocked makes c (connection gen) the current connection and starts
// its sender.
func (p *MQTTPublisher) resumeLocked(c mqtt.Client, gen uint64) {
	p.c, p.gen, p.up, p.upSince = c, gen, true, p.o.Clock.Now()
	go p.send(c, gen)
}

// send hands the queue to c (connection gen) in order, from the oldest
// message not yet acknowledged, until the connection is no longer current
// and up or the publisher is aborted. It runs without the lock while the
// client takes a message, so a hand-over stuck on a dead connection does
// not hold up the next connection's sender.
func (p *MQTTPublisher) send(c mqtt.Client, gen uint64) {
	var next uint64
	for {
		in, ok := p.nextToSend(gen, next)
		if !ok {
			return
		}
		tok := c.Publish(in.topic, p.qos(), false, in.payload)
		if !p.sent(in, tok, gen) {
			return
		}
		next = in.n + 1
	}
}

// nextToSend waits for the first queued message from position next on that
// is not acknowledged yet; false when connection gen is no longer current
// and up, or the publisher is aborted.
func (p *MQTTPublisher) nextToSend(gen, next uint64) (*inflight, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.life.Err() == nil && gen == p.gen && p.up {
		if len(p.queue) > 0 {
			first := p.queue[0].n
			for i := max(next, first) - first; i < uint64(len(p.queue)); i++ {
				if in := p.queue[i]; !acknowledged(in.tok) {
					return in, true
				}
			}
		}
		p.cond.Wait()
	}
	return nil, false
}

// sent records tok as in's token if connection gen is still current and
// up; false when it is not, or when the client failed the message at once
// (not connected, hand-over timed out), which fails the connection.
func (p *MQTTPublisher) sent(in *inflight, tok mqtt.Token, gen uint64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if gen != p.gen || !p.up {
		return false // the next connection sends in again
	}
	if in.tok != nil {
		p.republished.Add(1)
	}
	in.tok, in.gen = tok, gen
	p.cond.Broadcast()
	if isDone(tok) && tok.Error() != nil {
		p.failLocked(gen, tok.Error())
		return false
	}
	return true
}

// Connected reports whether the connection is currently up.
func (p *MQTTPublisher) Connected() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.up && p.c.IsConnectionOpen()
}
