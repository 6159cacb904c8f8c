package drill

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/edgespool/edgespool/sim/verify"
)

// ErrBadDrill is wrapped by every error about the content of a drill file.
var ErrBadDrill = errors.New("bad drill file")

// Drill is a drill file: the fleet to simulate, the site it runs against
// and the timeline of faults.
type Drill struct {
	Name         string        `yaml:"name"`
	Duration     time.Duration `yaml:"duration"`      // publishing time
	DrainTimeout time.Duration `yaml:"drain_timeout"` // wait for the backlog after publishing [5m]
	SampleEvery  time.Duration `yaml:"sample_every"`  // status sampling and live line [1s]
	Fleet        Fleet         `yaml:"fleet"`
	Site         Site          `yaml:"site"`
	Timeline     []Fault       `yaml:"timeline"`
	Random       *Random       `yaml:"random"`

	// Source is the file's bytes (hashed into the record).
	Source []byte `yaml:"-"`
}

// Fleet is the simulated fleet.
type Fleet struct {
	Generators int     `yaml:"generators" json:"generators"` // [10]
	First      int     `yaml:"first" json:"first"`           // index of the first generator [1]
	Rate       float64 `yaml:"rate" json:"rate"`             // readings per second per generator [1]
	QoS        int     `yaml:"qos" json:"qos"`               // 1 (default) or 0
	Seed       uint64  `yaml:"seed" json:"seed"`             // model seed [1]
	ClientID   string  `yaml:"client_id" json:"client_id"`   // MQTT client id prefix [edgespool-drill]
	Window     int     `yaml:"window" json:"window"`         // unacknowledged messages per connection [fleet default]
}

// Site is where the drill runs.
type Site struct {
	Broker   Process  `yaml:"broker"`
	Agent    Process  `yaml:"agent"`
	Links    Links    `yaml:"links"`
	Pressure Pressure `yaml:"spool_pressure"`
	Sinks    Sinks    `yaml:"sinks"`
}

// Process is the agent or the broker: where to reach it and the commands
// that control it. Commands run with sh -c. Without kill or stop, a
// pid_file lets the drill signal the process itself.
type Process struct {
	URL       string        `yaml:"url"`        // broker: tcp://host:port; agent: its HTTP base, e.g. http://127.0.0.1:9273
	Username  string        `yaml:"username"`   // broker only
	Password  string        `yaml:"password"`   // broker only; default $EDGESPOOL_SIM_MQTT_PASSWORD
	Config    string        `yaml:"config"`     // configuration file, hashed into the record
	Kill      string        `yaml:"kill"`       // e.g. systemctl kill -s KILL edgespool
	Stop      string        `yaml:"stop"`       // e.g. systemctl stop edgespool
	Start     string        `yaml:"start"`      // e.g. systemctl start edgespool
	PIDFile   string        `yaml:"pid_file"`   // alternative to kill and stop
	Version   string        `yaml:"version"`    // command printing the version, e.g. edgespool version
	ReadyWait time.Duration `yaml:"ready_wait"` // how long to wait for it after a start [60s]
}

// Links are the uplinks the drill can break.
type Links struct {
	// Toxiproxy is the Toxiproxy API address. Empty: links with listen
	// and upstream run through the built-in link cutter (sim/linkcut),
	// started by the drill.
	Toxiproxy string `yaml:"toxiproxy"`
	Kafka     Link   `yaml:"kafka"`
	InfluxDB  Link   `yaml:"influxdb"`
}

// Link is one uplink: Toxiproxy proxies, or a built-in link cutter.
type Link struct {
	Proxies  []string `yaml:"proxies"`  // Toxiproxy proxy names
	Listen   string   `yaml:"listen"`   // built-in cutter: where the agent connects
	Upstream string   `yaml:"upstream"` // built-in cutter: the real server
}

// configured reports whether the drill can break this link.
func (l Link) configured() bool { return len(l.Proxies) > 0 || (l.Listen != "" && l.Upstream != "") }

// Pressure fills and frees the spool's disk, when the user allows it.
type Pressure struct {
	Fill    string `yaml:"fill"`    // e.g. fallocate -l 2G /var/lib/edgespool/drill-fill
	Release string `yaml:"release"` // e.g. rm -f /var/lib/edgespool/drill-fill
}

// Sinks say where verify reads the readings back.
type Sinks struct {
	Kafka    KafkaSink     `yaml:"kafka"`
	InfluxDB InfluxSink    `yaml:"influxdb"`
	Window   time.Duration `yaml:"window"` // downsample window [1m]
	Region   string        `yaml:"region"` // region tag of downsampled points [US]
	NoDown   bool          `yaml:"no_downsampled"`
	Timeout  time.Duration `yaml:"timeout"` // per sink read [2m]
}

// KafkaSink is the Kafka side of Sinks.
type KafkaSink struct {
	Brokers   []string `yaml:"brokers"`
	RawTopic  string   `yaml:"raw_topic"`
	DownTopic string   `yaml:"down_topic"`
}

// InfluxSink is the InfluxDB side of Sinks.
type InfluxSink struct {
	URL      string `yaml:"url"`
	RawDB    string `yaml:"raw_db"`
	DownDB   string `yaml:"down_db"`
	Username string `yaml:"username"`
	Password string `yaml:"password"` // default $EDGESPOOL_SIM_INFLUX_PASSWORD
	Token    string `yaml:"token"`    // default $EDGESPOOL_SIM_INFLUX_TOKEN
}

// Fault is one entry of the timeline.
type Fault struct {
	At      time.Duration `yaml:"at" json:"at"`
	Kind    Kind          `yaml:"fault" json:"kind"`
	Link    string        `yaml:"link" json:"link"`       // kafka, influxdb or both (link faults) [both]
	For     time.Duration `yaml:"for" json:"for"`         // how long the fault lasts (down time for restarts)
	Down    time.Duration `yaml:"down" json:"down"`       // flap: time cut [5s]
	Up      time.Duration `yaml:"up" json:"up"`           // flap: time up [10s]
	Latency time.Duration `yaml:"latency" json:"latency"` // latency fault [500ms]
	Jitter  time.Duration `yaml:"jitter" json:"jitter"`
	KBps    int64         `yaml:"kbps" json:"kbps"` // bandwidth fault, KB/s [64]
}

// Random draws faults from a seed between Start and End.
type Random struct {
	Seed   uint64          `yaml:"seed"`
	Start  time.Duration   `yaml:"start"`  // first fault not before [1m]
	End    time.Duration   `yaml:"end"`    // every fault over by [duration - 5m, at least half the duration]
	Gap    []time.Duration `yaml:"gap"`    // [min, max] quiet time between faults [1m, 5m]
	For    []time.Duration `yaml:"for"`    // [min, max] length of link and spool faults [10s, 2m]
	Down   []time.Duration `yaml:"down"`   // [min, max] down time of restarts and power cuts [2s, 30s]
	Faults []Kind          `yaml:"faults"` // kinds to draw from [every kind]
	Links  []string        `yaml:"links"`  // links to draw from [kafka, influxdb, both]
}

// Parse reads a drill file and fills in the defaults.
func Parse(b []byte) (*Drill, error) {
	d := &Drill{}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(d); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadDrill, err)
	}
	d.Source = b
	d.defaults()
	if err := d.validate(); err != nil {
		return nil, err
	}
	return d, nil
}

// Load reads a drill file from disk.
func Load(path string) (*Drill, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("drill file: %w", err)
	}
	d, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

func setDefault[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}

func (d *Drill) defaults() {
	setDefault(&d.DrainTimeout, 5*time.Minute)
	setDefault(&d.SampleEvery, time.Second)
	f := &d.Fleet
	setDefault(&f.Generators, 10)
	setDefault(&f.First, 1)
	setDefault(&f.Rate, 1.0)
	setDefault(&f.QoS, 1)
	setDefault(&f.Seed, 1)
	setDefault(&f.ClientID, "edgespool-drill")
	s := &d.Site.Sinks
	setDefault(&s.Kafka.RawTopic, verify.DefaultRawTopic)
	setDefault(&s.Kafka.DownTopic, verify.DefaultDownTopic)
	setDefault(&s.InfluxDB.RawDB, verify.DefaultRawDB)
	setDefault(&s.InfluxDB.DownDB, verify.DefaultDownDB)
	setDefault(&s.InfluxDB.Password, os.Getenv("EDGESPOOL_SIM_INFLUX_PASSWORD"))
	setDefault(&s.InfluxDB.Token, os.Getenv("EDGESPOOL_SIM_INFLUX_TOKEN"))
	setDefault(&s.Window, verify.DefaultWindow)
	setDefault(&s.Region, verify.DefaultRegion)
	setDefault(&s.Timeout, 2*time.Minute)
	setDefault(&d.Site.Broker.Password, os.Getenv("EDGESPOOL_SIM_MQTT_PASSWORD"))
	setDefault(&d.Site.Broker.ReadyWait, time.Minute)
	setDefault(&d.Site.Agent.ReadyWait, time.Minute)
	for i := range d.Timeline {
		d.Timeline[i].defaults()
	}
	if r := d.Random; r != nil {
		r.defaults(d.Duration)
	}
}

func (f *Fault) defaults() {
	setDefault(&f.Down, 5*time.Second)
	setDefault(&f.Up, 10*time.Second)
	setDefault(&f.Latency, 500*time.Millisecond)
	setDefault(&f.KBps, 64)
	if f.Kind.isLink() {
		setDefault(&f.Link, LinkBoth)
	}
}

func (r *Random) defaults(duration time.Duration) {
	setDefault(&r.Start, time.Minute)
	if r.End == 0 {
		r.End = max(duration-5*time.Minute, duration/2)
	}
	if len(r.Gap) == 0 {
		r.Gap = []time.Duration{time.Minute, 5 * time.Minute}
	}
	if len(r.For) == 0 {
		r.For = []time.Duration{10 * time.Second, 2 * time.Minute}
	}
	if len(r.Down) == 0 {
		r.Down = []time.Duration{2 * time.Second, 30 * time.Second}
	}
	if len(r.Faults) == 0 {
		r.Faults = AllKinds()
	}
	if len(r.Links) == 0 {
		r.Links = []string{LinkKafka, LinkInflux, LinkBoth}
	}
}

func (d *Drill) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadDrill, fmt.Sprintf(format, args...))
	}
	switch {
	case d.Duration <= 0:
		return bad("duration must be positive")
	case d.Fleet.Rate <= 0 || d.Fleet.Generators < 1:
		return bad("fleet.rate and fleet.generators must be positive")
	case d.Fleet.QoS != 0 && d.Fleet.QoS != 1:
		return bad("fleet.qos must be 0 or 1")
	case d.Site.Broker.URL == "":
		return bad("site.broker.url is required")
	case d.Site.Agent.URL == "":
		return bad("site.agent.url (the agent's HTTP address, for /status and /metrics) is required")
	case len(d.Site.Sinks.Kafka.Brokers) == 0 && d.Site.Sinks.InfluxDB.URL == "":
		return bad("site.sinks: give kafka.brokers and/or influxdb.url to verify against")
	}
	for i, f := range d.Timeline {
		if err := f.validate(d.Duration); err != nil {
			return bad("timeline[%d] (%s at %v): %v", i, f.Kind, f.At, err)
		}
	}
	if d.Random != nil {
		if err := d.Random.validate(); err != nil {
			return bad("random: %v", err)
		}
	}
	return nil
}

func (f Fault) validate(duration time.Duration) error {
	if !f.Kind.valid() {
		return fmt.Errorf("unknown fault %q (want one of %v)", f.Kind, AllKinds())
	}
	if f.At < 0 || f.For < 0 {
		return errors.New("at and for must not be negative")
	}
	if f.At+f.For > duration {
		return fmt.Errorf("ends at %v, after the drill's duration %v", f.At+f.For, duration)
	}
	if f.Kind.isLink() && !validLink(f.Link) {
		return fmt.Errorf("link %q: want kafka, influxdb or both", f.Link)
	}
	if f.Kind.needsFor() && f.For <= 0 {
		return fmt.Errorf("%s needs for: (how long it lasts)", f.Kind)
	}
	return nil
}

func (r *Random) validate() error {
	for _, b := range [][]time.Duration{r.Gap, r.For, r.Down} {
		if len(b) != 2 || b[0] > b[1] || b[0] < 0 {
			return errors.New("gap, for and down are [min, max] with 0 <= min <= max")
		}
	}
	if r.Gap[0] <= 0 {
		return errors.New("gap: min must be positive")
	}
	for _, k := range r.Faults {
		if !k.valid() {
			return fmt.Errorf("unknown fault %q", k)
		}
	}
	for _, l := range r.Links {
		if !validLink(l) {
			return fmt.Errorf("link %q: want kafka, influxdb or both", l)
		}
	}
	if r.End <= r.Start {
		return fmt.Errorf("end %v is not after start %v", r.End, r.Start)
	}
	return nil
}

// Scale multiplies every time of the drill (duration, fault times and
// lengths, the random schedule's bounds) by s, e.g. 0.25 to run a drill in
// a quarter of its time with the same faults. The drain timeout and the
// fault parameters (latency, bandwidth) are kept.
func (d *Drill) Scale(s float64) {
	if s <= 0 || s == 1 {
		return
	}
	m := func(p *time.Duration) { *p = time.Duration(float64(*p) * s) }
	m(&d.Duration)
	for i := range d.Timeline {
		f := &d.Timeline[i]
		m(&f.At)
		m(&f.For)
		m(&f.Down)
		m(&f.Up)
	}
	if r := d.Random; r != nil {
		m(&r.Start)
		m(&r.End)
		for _, ds := range [][]time.Duration{r.Gap, r.For, r.Down} {
			for i := range ds {
				m(&ds[i])
			}
		}
	}
}
