package demo

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Options configure Run; zero values mean the defaults in brackets.
type Options struct {
	Generators   int           // [5]
	Rate         float64       // readings per second per generator [20]
	Duration     time.Duration // publishing time [25s]
	CutAt        time.Duration // when the uplink is cut [8s]
	CutFor       time.Duration // how long it stays cut [10s]
	Window       time.Duration // downsample window [10s, so that a short demo shows several]
	DrainTimeout time.Duration // how long to wait for the backlog to drain [90s]
	Seed         uint64
	// Influxd is the influxd binary; [$EDGESPOOL_TOOLS/bin/influxd, then
	// /opt/edgespool-tools/bin/influxd, then PATH]. NoInflux skips InfluxDB.
	Influxd  string
	NoInflux bool
	// Embedded: the generators publish to the agent's own MQTT broker
	// (Env.Listen) instead of the demo's broker.
	Embedded bool
	Dir      string        // working directory [a temporary one, removed after]
	Every    time.Duration // status line interval [1s]
	Out      io.Writer     // the story [os.Stdout]
	Logger   *slog.Logger  // component logs [discarded]
}

func (o Options) withDefaults() Options {
	setDefault(&o.Generators, 5)
	setDefault(&o.Rate, 20)
	setDefault(&o.Duration, 25*time.Second)
	setDefault(&o.CutAt, 8*time.Second)
	setDefault(&o.CutFor, 10*time.Second)
	setDefault(&o.Window, 10*time.Second)
	setDefault(&o.DrainTimeout, 90*time.Second)
	setDefault(&o.Every, time.Second)
	if o.Out == nil {
		o.Out = os.Stdout
	}
	o.Out = &syncWriter{w: o.Out}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

func setDefault[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}

// Env is what the demo provides to the agent.
type Env struct {
	MQTT string // broker URL, tcp://127.0.0.1:port
	// Listen, in embedded mode, is the host:port the agent's own broker
	// must serve; the generators publish there instead of to MQTT.
	Listen       string
	Topic        string   // topic filter the fleet publishes under
	KafkaBrokers []string // bootstrap addresses, through the cuttable link
	RawTopic     string   // Kafka topics (already created)
	DownTopic    string
	InfluxURL    string // through the cuttable link; "" when InfluxDB is skipped
	RawDB        string // InfluxDB 1.8 databases (already created)
	DownDB       string
	Dir          string        // a directory for the agent's spool
	Window       time.Duration // downsample window to configure
	// IdleClose is how soon after a generator falls silent its last window
	// should be closed by wall clock, so that the demo sees every window.
	IdleClose time.Duration
	Logger    *slog.Logger
}

// Counters are the agent's figures shown on the status line.
type Counters struct {
	Spooled   uint64 // readings committed to the spool
	Backlog   uint64 // records not yet confirmed by every sink
	Forwarded uint64 // records confirmed by the sinks
	Alarms    uint64 // "refuel" alarms; 0: the demo counts the agent's local alarm messages
	Links     string // e.g. "kafka up, influxdb retrying"
}

// Agent is a running agent.
type Agent interface {
	Counters() Counters
	// Stop shuts the agent down (drain bounded by ctx) and returns its error.
	Stop(ctx context.Context) error
}

// StartFunc starts an agent against env. The agent runs until Stop.
type StartFunc func(ctx context.Context, env Env) (Agent, error)

// syncWriter serialises writes from the status, timeline and main
// goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}
