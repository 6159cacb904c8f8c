package agent

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgespool/edgespool/downsample"
)

// alarmPublishFunc publishes one message at QoS 1 and returns once the
// broker has it (or ctx ends).
type alarmPublishFunc func(ctx context.Context, topic string, payload []byte, retain bool) error

// alarmPublisher publishes alarm state changes as retained QoS 1 messages
// on the local broker: the site's (over the intake's MQTT session) or the
// embedded one (in-process).
type alarmPublisher struct {
	publish  alarmPublishFunc
	template string // e.g. emergency_generator/{generatorID}/alarm
	retain   bool
}

// pahoPublish publishes over a paho client, waiting for the PUBACK.
func pahoPublish(c mqtt.Client) alarmPublishFunc {
	return func(ctx context.Context, topic string, payload []byte, retain bool) error {
		tok := c.Publish(topic, 1, retain, payload)
		select {
		case <-tok.Done():
			return tok.Error()
		case <-ctx.Done():
			return errors.Join(errors.New("alarm publish not confirmed"), ctx.Err())
		}
	}
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
	return p.publish(ctx, topic, payload, p.retain)
}

// startDownsample runs the engine on its own cursor of the raw stream.
func (a *Agent) startDownsample() error {
	d := a.cfg.Downsample
	if !d.Enabled {
		return nil
	}
	o := downsample.EngineOptions{Options: a.downsampleOptions(),
		Consumer: ConsumerDownsample, Logger: a.log.With("component", "downsample"), Registerer: a.reg}
	if d.AlarmTopic != "" {
		o.Publisher = &alarmPublisher{publish: a.alarmSink(), template: d.AlarmTopic, retain: d.AlarmRetain}
	}
	e, err := downsample.NewEngine(a.sp, o)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.dsStop = func() { cancel(); <-a.dsDone }
	a.dsDone = make(chan struct{})
	go func() {
		defer close(a.dsDone)
		if err := e.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Error("downsample stopped", "err", err)
		}
	}()
	return nil
}
