package fleet

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

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
	return o
}

// writeLinger gathers the messages a fleet publishes within a millisecond
// into one write (at thousands of messages a second, system calls are
// most of a publisher's cost); it delays each by at most that.
const writeLinger = time.Millisecond

func (o MQTTOptions) clientOptions() *mqtt.ClientOptions {
	log := o.Logger.With("client", o.ClientID)
	co := mqtt.NewClientOptions().AddBroker(o.Broker).SetClientID(o.ClientID).
		SetUsername(o.Username).SetPassword(o.Password).
		SetCleanSession(true).SetAutoReconnect(true).SetConnectRetry(true).
		SetConnectRetryInterval(500 * time.Millisecond).
		SetMaxReconnectInterval(2 * time.Second).
		SetStore(mqtt.NewOrderedMemoryStore()).
		SetMaxResumePubInFlight(o.Window).
		SetKeepAlive(10 * time.Second).
		SetCustomOpenConnectionFn(mqttconn.Opener(mqttconn.Options{Linger: writeLinger}))
	if o.TLS != nil {
		co.SetTLSConfig(o.TLS)
	}
	co.SetConnectionLostHandler(func(_ mqtt.Client, err error) {
		log.Warn("mqtt connection lost; reconnecting", "err", err)
	})
	co.SetOnConnectHandler(func(mqtt.Client) { log.Debug("mqtt connected", "broker", o.Broker) })
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
		o:       o,
		c:       mqtt.NewClient(o.clientOptions()),
		window:  make(chan struct{}, o.Window),
		pending: make(chan inflight, o.Window),
		abort:   make(chan struct{}),
		done:    make(chan struct{}),
	}
	tok := p.c.Connect()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			p.c.Disconnect(0)
			return nil, fmt.Errorf("mqtt connect %s: %w", o.Broker, err)
		}
	case <-ctx.Done():
		p.c.Disconnect(0)
		return nil, fmt.Errorf("mqtt connect %s: %w", o.Broker, ctx.Err())
	}
	go p.collect()
	return p, nil
}

// Connected reports whether the connection is currently up.
func (p *MQTTPublisher) Connected() bool { return p.c.IsConnectionOpen() }
