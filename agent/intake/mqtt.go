package intake

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgespool/edgespool/agent/backoff"
	"github.com/edgespool/edgespool/agent/intake/pahoack"
	"github.com/edgespool/edgespool/agent/mqttconn"
)

// connState is the MQTT link state, for /readyz and /status.
type connState struct {
	mu         sync.Mutex
	connected  bool
	subscribed bool
	lastErr    error
	lastErrAt  time.Time
	since      time.Time
	failures   int
	gapMsgs    uint64
	gapLogged  time.Time
}

// Status is the intake's state for /status.
type Status struct {
	Broker      string    `json:"broker"`
	ClientID    string    `json:"client_id"`
	Connected   bool      `json:"connected"`
	Subscribed  bool      `json:"subscribed"`
	Since       time.Time `json:"since"` // last change of Connected
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	Inflight    int       `json:"inflight"`
}

// Ready reports whether the intake is connected and subscribed (a local
// intake: started and not stopping).
func (in *Intake) Ready() bool {
	if in.local {
		return in.started.Load() && !in.stopping.Load()
	}
	in.state.mu.Lock()
	defer in.state.mu.Unlock()
	return in.state.connected && in.state.subscribed
}

// Status returns the link state.
func (in *Intake) Status() Status {
	s := &in.state
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{Broker: in.opts.Broker, ClientID: in.opts.ClientID, Connected: s.connected,
		Subscribed: s.subscribed, Since: s.since, LastErrorAt: s.lastErrAt, Inflight: int(in.held.Load())}
	if s.lastErr != nil {
		st.LastError = s.lastErr.Error()
	}
	return st
}

// ackLinger lets what paho writes one packet at a time (acknowledgements
// while the direct PUBACK writer cannot be used, or is disabled) reach the broker in one write. The broker
// only frees the in-flight window a millisecond later; no reading waits.
const ackLinger = time.Millisecond

func (in *Intake) clientOptions() *mqtt.ClientOptions {
	o := in.opts
	co := mqtt.NewClientOptions().AddBroker(o.Broker).SetClientID(o.ClientID).
		SetUsername(o.Username).SetPassword(o.Password).SetTLSConfig(o.TLS).
		SetCleanSession(false).SetOrderMatters(true).SetAutoAckDisabled(true).
		SetResumeSubs(false).SetKeepAlive(o.KeepAlive).SetPingTimeout(10 * time.Second).
		SetConnectTimeout(o.ConnectTimeout).SetWriteTimeout(10 * time.Second).
		SetAutoReconnect(true).SetConnectRetry(false).SetMaxReconnectInterval(o.ReconnectMax).
		SetMaxResumePubInFlight(100).SetDefaultPublishHandler(in.handle)
	if o.DisableDirectAck {
		co.SetCustomOpenConnectionFn(mqttconn.Opener(mqttconn.Options{Linger: ackLinger}))
	} else {
		co.SetCustomOpenConnectionFn(in.acks.Opener(mqttconn.Options{Linger: ackLinger})).
			SetStore(pahoack.NewStore())
	}
	co.SetOnConnectHandler(func(c mqtt.Client) {
		in.acks.Connected()
		in.bg.start(context.Background(), func(ctx context.Context) { in.subscribe(ctx, c) })
	})
	co.SetConnectionNotificationHandler(in.notify)
	return co
}

// connectLoop makes the first connection, retrying with capped backoff;
// later reconnects are paho's (AutoReconnect, capped by ReconnectMax).
func (in *Intake) connectLoop(ctx context.Context) {
	b := in.reconnectBackoff()
	for ctx.Err() == nil && !in.stopping.Load() {
		tok := in.client.Connect()
		tok.Wait()
		if tok.Error() == nil || b.Wait(ctx) != nil {
			return
		}
	}
}

// reconnectBackoff is the delay between connect and subscribe attempts.
func (in *Intake) reconnectBackoff() *backoff.Backoff {
	return backoff.New(backoff.Options{Min: in.opts.ReconnectMin, Max: in.opts.ReconnectMax, Clock: in.opts.Clock})
}

// subscribe (re)subscribes every topic filter after each connect; the
// persistent session keeps them anyway, but a new broker or a lost session
// needs them.
func (in *Intake) subscribe(ctx context.Context, c mqtt.Client) {
	filters := make(map[string]byte, len(in.opts.Topics))
	for _, t := range in.opts.Topics {
		filters[t] = 1
	}
	b := in.reconnectBackoff()
	for c.IsConnectionOpen() && !in.stopping.Load() {
		err := subscribeOnce(c, filters, in.opts.ConnectTimeout)
		if err == nil {
			in.setSubscribed(true, nil)
			return
		}
		in.setSubscribed(false, err)
		if b.Wait(ctx) != nil {
			return
		}
	}
}

func subscribeOnce(c mqtt.Client, filters map[string]byte, timeout time.Duration) error {
	tok := c.SubscribeMultiple(filters, nil)
	if !tok.WaitTimeout(timeout) {
		return errors.New("subscribe: no SUBACK in time")
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	for topic, qos := range tok.(*mqtt.SubscribeToken).Result() {
		if qos != 1 {
			return fmt.Errorf("subscribe %q: broker granted %#x, want QoS 1", topic, qos)
		}
	}
	return nil
}

func (in *Intake) setSubscribed(ok bool, err error) {
	s := &in.state
	s.mu.Lock()
	defer s.mu.Unlock()
	if ok && !s.subscribed {
		in.log.Info("mqtt subscribed", "topics", in.opts.Topics)
	}
	if err != nil && (s.lastErr == nil || s.lastErr.Error() != err.Error()) {
		in.log.Error("mqtt subscribe failed; retrying", "err", err)
	}
	if err != nil {
		s.lastErr, s.lastErrAt = err, in.opts.Clock.Now()
	}
	s.subscribed = ok
	in.m.subscribed.Set(b2f(ok))
}

// notify logs link state changes once, not every retry.
func (in *Intake) notify(_ mqtt.Client, n mqtt.ConnectionNotification) {
	s := &in.state
	s.mu.Lock()
	defer s.mu.Unlock()
	switch n := n.(type) {
	case mqtt.ConnectionNotificationConnected:
		in.log.Info("mqtt connected", "broker", in.opts.Broker, "client_id", in.opts.ClientID,
			"after_failures", s.failures)
		s.connected, s.failures, s.since = true, 0, in.opts.Clock.Now()
	case mqtt.ConnectionNotificationFailed:
		if s.failures++; s.failures == 1 {
			in.log.Warn("mqtt connect failed; retrying with backoff", "broker", in.opts.Broker, "err", n.Reason)
		}
		s.lastErr, s.lastErrAt = n.Reason, in.opts.Clock.Now()
	case mqtt.ConnectionNotificationLost:
		in.log.Warn("mqtt connection lost; reconnecting", "err", n.Reason)
		in.m.connLost.Inc()
		s.connected, s.subscribed, s.since = false, false, in.opts.Clock.Now()
		if n.Reason != nil {
			s.lastErr, s.lastErrAt = n.Reason, s.since
		}
	default:
		return
	}
	in.m.connected.Set(b2f(s.connected))
	in.m.subscribed.Set(b2f(s.subscribed))
}

// gapWarnEvery is how often at most gapWarn logs.
const gapWarnEvery = 10 * time.Second

// gapWarn logs sequence gaps at most every gapWarnEvery, with a total.
func (in *Intake) gapWarn(dev string, seq, gap uint64) {
	s := &in.state
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gapMsgs += gap
	now := in.opts.Clock.Now()
	if now.Sub(s.gapLogged) < gapWarnEvery {
		return
	}
	in.log.Warn("readings missing before the agent (sequence gaps); check the broker's max_queued_messages and persistence",
		"missing", s.gapMsgs, "last_generator", dev, "at_seq", seq)
	s.gapMsgs, s.gapLogged = 0, now
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
