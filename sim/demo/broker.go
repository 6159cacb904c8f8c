package demo

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// broker is an in-process MQTT broker on a free loopback port, with
// queues large enough not to drop QoS 1 messages in a demo.
type broker struct {
	s      *mqtt.Server
	url    string
	alarms atomic.Int64 // "refuel" alarm messages seen on AlarmTopic
}

// AlarmTopic is the filter of the agent's local alarm messages.
const AlarmTopic = "emergency_generator/+/alarm"

func startBroker(log *slog.Logger) (*broker, error) {
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumInflight = 65535
	caps.MaximumClientWritesPending = 1 << 16
	s := mqtt.New(&mqtt.Options{Capabilities: caps, Logger: log, InlineClient: true})
	if err := s.AddHook(new(auth.AllowHook), nil); err != nil {
		return nil, fmt.Errorf("mqtt broker: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("mqtt broker listen: %w", err)
	}
	if err := s.AddListener(listeners.NewNet("demo", ln)); err != nil {
		ln.Close()
		return nil, fmt.Errorf("mqtt broker: %w", err)
	}
	if err := s.Serve(); err != nil {
		return nil, fmt.Errorf("mqtt broker: %w", err)
	}
	b := &broker{s: s, url: "tcp://" + ln.Addr().String()}
	err = s.Subscribe(AlarmTopic, 1, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		if bytes.Contains(pk.Payload, []byte("refuel")) {
			b.alarms.Add(1)
		}
	})
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("mqtt broker alarm subscription: %w", err)
	}
	return b, nil
}

// dropped returns the messages the broker dropped.
func (b *broker) dropped() int64 { return atomic.LoadInt64(&b.s.Info.MessagesDropped) }

func (b *broker) close() { b.s.Close() }
