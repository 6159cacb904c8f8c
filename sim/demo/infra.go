package demo

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/edgespool/edgespool/sim/fleet"
	"github.com/edgespool/edgespool/sim/linkcut"
	"github.com/edgespool/edgespool/sim/verify"
)

// infra is everything the demo runs besides the agent.
type infra struct {
	broker *broker
	kafka  *kafka
	influx *influx // nil when skipped
	env    Env
}

// startInfra starts the broker, Kafka and, when possible, InfluxDB.
func startInfra(ctx context.Context, o Options, dir string) (*infra, error) {
	in := &infra{env: Env{
		Topic: fleet.TopicPrefix + "+", RawTopic: verify.DefaultRawTopic, DownTopic: verify.DefaultDownTopic,
		RawDB: verify.DefaultRawDB, DownDB: verify.DefaultDownDB, Dir: dir, Window: o.Window,
		IdleClose: 2 * time.Second, Logger: o.Logger,
	}}
	var err error
	if in.broker, err = startBroker(o.Logger.With("component", "broker")); err != nil {
		return nil, err
	}
	in.env.MQTT = in.broker.url
	if o.Embedded {
		in.env.Listen = freeAddr()
	}
	if in.kafka, err = startKafka(o.Logger.With("component", "kafka-link"), in.env.RawTopic, in.env.DownTopic); err != nil {
		in.stop()
		return nil, err
	}
	in.env.KafkaBrokers = []string{in.kafka.link.Addr()}
	in.startInflux(ctx, o)
	return in, nil
}

// startInflux starts influxd if a binary is available, and says what it did.
func (in *infra) startInflux(ctx context.Context, o Options) {
	if o.NoInflux {
		fmt.Fprintln(o.Out, "influxdb: skipped (-no-influx)")
		return
	}
	bin, err := findInfluxd(o.Influxd)
	if err == nil {
		in.influx, err = startInflux(ctx, bin, in.env.Dir, o.Logger.With("component", "influx-link"), in.env.RawDB, in.env.DownDB)
	}
	if err != nil {
		fmt.Fprintf(o.Out, "influxdb: skipped (%v); the demo runs with the Kafka sink only\n", err)
		return
	}
	in.env.InfluxURL = "http://" + in.influx.link.Addr()
	fmt.Fprintf(o.Out, "influxdb: %s started (%s), behind a cuttable link at %s\n", bin, in.influx.url, in.env.InfluxURL)
}

// links returns the cuttable uplinks with their names.
func (in *infra) links() map[string]*linkcut.Proxy {
	m := map[string]*linkcut.Proxy{"kafka": in.kafka.link}
	if in.influx != nil {
		m["influxdb"] = in.influx.link
	}
	return m
}

// verifyConfig reads the sinks directly (not through the links).
func (in *infra) verifyConfig(exp verify.Expect, window time.Duration) verify.Config {
	cfg := verify.Config{Expect: exp, Down: verify.DownOptions{Window: window},
		Kafka: verify.KafkaOptions{Brokers: in.env.KafkaBrokers, Timeout: 20 * time.Second}}
	if in.influx != nil {
		cfg.Influx = verify.InfluxOptions{URL: in.influx.url, Timeout: 20 * time.Second}
	}
	return cfg
}

func (in *infra) stop() {
	if in.influx != nil {
		in.influx.stop()
	}
	if in.kafka != nil {
		in.kafka.close()
	}
	if in.broker != nil {
		in.broker.close()
	}
}

func (in *infra) describe(w io.Writer) {
	fmt.Fprintf(w, "mqtt broker: in-process at %s\n", in.env.MQTT)
	if in.env.Listen != "" {
		fmt.Fprintf(w, "generators publish to the agent's embedded broker at tcp://%s\n", in.env.Listen)
	}
	fmt.Fprintf(w, "kafka: in-process, topics %s and %s, behind a cuttable link at %s\n",
		in.env.RawTopic, in.env.DownTopic, in.env.KafkaBrokers[0])
}

// counters are the agent's counters, with the local alarms seen on the
// broker when the agent does not count them itself.
func (in *infra) counters(a Agent) Counters {
	c := a.Counters()
	if c.Alarms == 0 {
		c.Alarms = uint64(in.broker.alarms.Load())
	}
	return c
}
