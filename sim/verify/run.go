package verify

import (
	"context"
	"fmt"

	"github.com/edgespool/edgespool/agent/model"
)

// Default sink names: the Kafka topics and InfluxDB databases of the
// reference pipeline.
const (
	DefaultRawTopic  = "emergency_generators"
	DefaultDownTopic = "emergency_generators_downsampled"
	DefaultRawDB     = "kafka"
	DefaultDownDB    = "kafka_downsampled"
)

// Config says which sinks Run reads back. Kafka is read when
// Kafka.Brokers is set, InfluxDB when Influx.URL is set.
type Config struct {
	Expect Expect

	Kafka               KafkaOptions // Topic is ignored: see RawTopic, DownTopic
	RawTopic, DownTopic string       // defaults above

	Influx        InfluxOptions // DB is ignored: see RawDB, DownDB
	RawDB, DownDB string        // defaults above

	Down   DownOptions
	NoDown bool // skip the downsampled checks

	// OnRaw, when set, receives the raw records read back from each sink
	// (sink named as in RawReport.Sink), e.g. to judge slices of a run.
	OnRaw func(sink string, obs []Observation)
	// OnDown, when set, receives each downsampled stream as CheckDown
	// judged it: the sink (named as in DownReport.Sink), the raw readings
	// the points are judged against and the points read back.
	OnDown func(sink string, raw []model.Reading, points []Observation)
}

func (c Config) withDefaults() Config {
	def := func(s *string, d string) {
		if *s == "" {
			*s = d
		}
	}
	def(&c.RawTopic, DefaultRawTopic)
	def(&c.DownTopic, DefaultDownTopic)
	def(&c.RawDB, DefaultRawDB)
	def(&c.DownDB, DefaultDownDB)
	return c
}

// Report gathers the checks of every sink.
type Report struct {
	Raw  []RawReport  `json:"raw"`
	Down []DownReport `json:"downsampled,omitempty"`
}

// OK reports whether every check passed.
func (r Report) OK() bool {
	for _, x := range r.Raw {
		if !x.OK() {
			return false
		}
	}
	for _, x := range r.Down {
		if !x.OK() {
			return false
		}
	}
	return len(r.Raw) > 0
}

// Run reads the configured sinks back and checks them.
func Run(ctx context.Context, c Config) (Report, error) {
	c = c.withDefaults()
	var rep Report
	if len(c.Kafka.Brokers) > 0 {
		if err := c.kafka(ctx, &rep); err != nil {
			return rep, err
		}
	}
	if c.Influx.URL != "" {
		if err := c.influx(ctx, &rep); err != nil {
			return rep, err
		}
	}
	if len(rep.Raw) == 0 {
		return rep, fmt.Errorf("verify: no sink configured")
	}
	return rep, nil
}

func (c Config) kafka(ctx context.Context, rep *Report) error {
	o := c.Kafka
	o.Topic = c.RawTopic
	raw, err := ReadKafka(ctx, o)
	if err != nil {
		return err
	}
	c.onRaw("kafka "+c.RawTopic, raw.Observations)
	r := CheckRaw("kafka "+c.RawTopic, c.Expect, raw.Observations)
	r.BadRecords = raw.Undecodable
	rep.Raw = append(rep.Raw, r)
	if c.NoDown {
		return nil
	}
	o.Topic = c.DownTopic
	down, err := ReadKafka(ctx, o)
	if err != nil {
		return err
	}
	d := c.checkDown("kafka "+c.DownTopic, raw.Observations, down.Observations)
	d.Wrong += down.Undecodable
	rep.Down = append(rep.Down, d)
	return nil
}

func (c Config) influx(ctx context.Context, rep *Report) error {
	o := c.Influx
	o.DB = c.RawDB
	raw, err := ReadInflux(ctx, o)
	if err != nil {
		return fmt.Errorf("influx %s: %w", c.RawDB, err)
	}
	c.onRaw("influxdb "+c.RawDB, raw)
	rep.Raw = append(rep.Raw, CheckRaw("influxdb "+c.RawDB, c.Expect, raw))
	if c.NoDown {
		return nil
	}
	o.DB = c.DownDB
	down, err := ReadInflux(ctx, o)
	if err != nil {
		return fmt.Errorf("influx %s: %w", c.DownDB, err)
	}
	rep.Down = append(rep.Down, c.checkDown("influxdb "+c.DownDB, raw, down))
	return nil
}

func (c Config) onRaw(sink string, obs []Observation) {
	if c.OnRaw != nil {
		c.OnRaw(sink, obs)
	}
}

// checkDown judges one downsampled stream against its sink's raw stream.
func (c Config) checkDown(sink string, raw, points []Observation) DownReport {
	src := c.source(raw)
	if c.OnDown != nil {
		c.OnDown(sink, src, points)
	}
	return CheckDown(sink, src, points, c.Down)
}

// source returns the raw readings a downsampled stream is judged against:
// what the sink's raw stream received. Readings that carry no seq are
// given theirs from the published log when one is loaded.
func (c Config) source(raw []Observation) []model.Reading {
	byTime := c.Expect.seqByTime()
	rs := Readings(raw)
	for i := range rs {
		if rs[i].Seq == 0 {
			rs[i].Seq = byTime[rs[i].GeneratorID][rs[i].Time]
		}
	}
	return rs
}
