package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgespool/edgespool/downsample"
)

// ErrAlarmUnconfirmed: a published alarm did not come back from the broker
// on the agent's own subscription in time. Mosquitto acknowledges a QoS 1
// publication that its ACL denies and drops it, so only reading the topic
// back tells that the alarm reached the broker.
var ErrAlarmUnconfirmed = errors.New("alarm not confirmed by the broker")

// unsubscribeTimeout bounds the UNSUBSCRIBE after each confirmation.
const unsubscribeTimeout = 2 * time.Second

// AlarmStatus is the alarm part of /status.
type AlarmStatus struct {
	Confirmed   uint64   `json:"confirmed"`
	Unconfirmed uint64   `json:"unconfirmed"`
	Pending     []string `json:"unconfirmed_generators"`
}

// alarmBus is the local broker as the alarm publisher uses it: the site's
// (over the intake's MQTT session, pahoBus) or the embedded one
// (in-process, brokerBus).
type alarmBus interface {
	// watch calls echo with the payload of each message on topic (the
	// retained one too) until stop is called.
	watch(ctx context.Context, topic string, echo func(payload []byte)) (stop func(), err error)
	// publish publishes at QoS 1 and returns once the broker took it.
	publish(ctx context.Context, topic string, payload []byte, retain bool) error
}

// alarmPublisher publishes alarm state changes as QoS 1 messages (retained
// by default) on the local broker, and confirms each one: it watches the
// alarm's own topic first and waits until its payload comes back. An
// alarm not seen back within the publish timeout is an error, so the
// engine retries it with backoff.
type alarmPublisher struct {
	bus      alarmBus
	template string // e.g. emergency_generator/{generatorID}/alarm
	retain   func() bool
	log      *slog.Logger

	confirmed, unconfirmed prometheus.Counter
	unconfirmedNow         prometheus.Gauge

	mu      sync.Mutex
	pending map[string]bool // generators whose last alarm is unconfirmed
	st      AlarmStatus
}

func newAlarmPublisher(bus alarmBus, template string, retain func() bool, log *slog.Logger,
	reg prometheus.Registerer) (*alarmPublisher, error) {
	p := &alarmPublisher{bus: bus, template: template, retain: retain, log: log, pending: map[string]bool{},
		confirmed: prometheus.NewCounter(prometheus.CounterOpts{Name: "edgespool_downsample_alarm_confirmed_total",
			Help: "Local alarm publications read back from the broker."}),
		unconfirmed: prometheus.NewCounter(prometheus.CounterOpts{Name: "edgespool_downsample_alarm_unconfirmed_total",
			Help: "Local alarm publications not read back from the broker in time (denied or lost); retried."}),
		unconfirmedNow: prometheus.NewGauge(prometheus.GaugeOpts{Name: "edgespool_downsample_alarms_unconfirmed",
			Help: "Generators whose latest alarm has not been confirmed by the broker."}),
	}
	for _, c := range []prometheus.Collector{p.confirmed, p.unconfirmed, p.unconfirmedNow} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("alarm metrics: %w", err)
		}
	}
	return p, nil
}

// PublishAlarm implements downsample.AlarmPublisher.
func (p *alarmPublisher) PublishAlarm(ctx context.Context, a downsample.Alarm) error {
	payload, err := json.Marshal(map[string]any{"generatorID": a.GeneratorID, "alarm": a.Label,
		"previous": a.Previous, "fuel": a.Fuel, "time": a.Time.UTC().Format(time.RFC3339Nano),
		"window": a.Window.UTC().Format(time.RFC3339), "region": a.Region})
	if err != nil {
		return err
	}
	topic := strings.ReplaceAll(p.template, "{generatorID}", a.GeneratorID)
	echo := make(chan struct{}, 1)
	stop, err := p.bus.watch(ctx, topic, func(got []byte) {
		if bytes.Equal(got, payload) {
			select {
			case echo <- struct{}{}:
			default:
			}
		}
	})
	if err != nil {
		if errors.Is(err, ErrAlarmUnconfirmed) {
			p.note(a.GeneratorID, topic, err)
		}
		return err
	}
	defer stop()
	if err := p.bus.publish(ctx, topic, payload, p.retain()); err != nil {
		return fmt.Errorf("alarm publish: %w", err)
	}
	select {
	case <-echo:
		p.note(a.GeneratorID, topic, nil)
		return nil
	case <-ctx.Done():
		err := fmt.Errorf("%w: %s", ErrAlarmUnconfirmed, topic)
		p.note(a.GeneratorID, topic, err)
		return err
	}
}

// note counts a confirmation or its absence and logs each generator's
// change between the two once.
func (p *alarmPublisher) note(gen, topic string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	was := p.pending[gen]
	if err == nil {
		p.confirmed.Inc()
		p.st.Confirmed++
		delete(p.pending, gen)
		if was {
			p.log.Info("alarm confirmed by the broker", "generator", gen, "topic", topic)
		}
	} else {
		p.unconfirmed.Inc()
		p.st.Unconfirmed++
		p.pending[gen] = true
		if !was {
			p.log.Warn("alarm not confirmed by the broker (publish denied by an ACL or lost); retrying",
				"generator", gen, "topic", topic, "err", err)
		}
	}
	p.unconfirmedNow.Set(float64(len(p.pending)))
}

func (p *alarmPublisher) status() AlarmStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.st
	st.Pending = make([]string, 0, len(p.pending))
	for g := range p.pending {
		st.Pending = append(st.Pending, g)
	}
	sort.Strings(st.Pending)
	return st
}

// pahoBus carries the alarms over the intake's MQTT session.
type pahoBus struct{ c mqtt.Client }

// watch subscribes to topic at QoS 0.
func (p pahoBus) watch(ctx context.Context, topic string, echo func([]byte)) (func(), error) {
	tok := p.c.Subscribe(topic, 0, func(_ mqtt.Client, m mqtt.Message) {
		echo(m.Payload())
		m.Ack() // also delivered at QoS 1 when the intake's filters cover the topic
	})
	if err := await(ctx, tok); err != nil {
		return nil, fmt.Errorf("alarm read-back subscribe: %w", err)
	}
	if q := tok.(*mqtt.SubscribeToken).Result()[topic]; q > 2 {
		return nil, fmt.Errorf("%w: the broker refused the read-back subscription of %s", ErrAlarmUnconfirmed, topic)
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), unsubscribeTimeout)
		defer cancel()
		_ = await(ctx, p.c.Unsubscribe(topic))
	}, nil
}

func (p pahoBus) publish(ctx context.Context, topic string, payload []byte, retain bool) error {
	return await(ctx, p.c.Publish(topic, 1, retain, payload))
}

// await waits for tok up to ctx.
func await(ctx context.Context, tok mqtt.Token) error {
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// downsampleStage prepares the engine on its own cursor of the raw stream,
// with the alarm publisher on the MQTT session or the embedded broker.
func (a *Agent) downsampleStage() ([]named, error) {
	d := a.cfg.Downsample
	if !d.Enabled {
		return nil, nil
	}
	o := downsample.EngineOptions{Options: a.downsampleOptions(),
		Consumer: ConsumerDownsample, Logger: a.log.With("component", "downsample"), Registerer: a.reg, Clock: a.clk,
		InputLive: a.inputLive}
	if d.AlarmTopic != "" {
		p, err := newAlarmPublisher(a.alarmBus(), d.AlarmTopic, func() bool { return a.live.Load().alarmRetain },
			a.log.With("component", "alarms"), a.reg)
		if err != nil {
			return nil, err
		}
		o.Publisher = p
		a.mu.Lock()
		a.alarmPub = p
		a.mu.Unlock()
	}
	e, err := downsample.NewEngine(a.sp, o)
	if err != nil {
		return nil, fmt.Errorf("downsample: %w", err)
	}
	return []named{{"downsample", e}}, nil
}

// alarmBus is the embedded broker in broker mode, else the MQTT session.
func (a *Agent) alarmBus() alarmBus {
	if a.broker != nil {
		return brokerBus{a.broker}
	}
	return pahoBus{a.in.Client()}
}

// inputLive reports whether readings can reach the agent: its intake is
// connected and subscribed to the broker (in broker mode: serving). The
// downsample's wall clock does not close windows of silent generators
// while it is not, nor for downsample.idle_grace after.
func (a *Agent) inputLive() bool {
	a.mu.Lock()
	in := a.in
	a.mu.Unlock()
	return in != nil && in.Ready()
}
