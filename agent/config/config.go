// Package config is the edgespool configuration file: one YAML document
// decoded strictly (an unknown key is an error naming the key and its line),
// with ${ENV} expansion in string values for secrets, defaults that work for
// a single gateway, and validation that names the field and the problem.
//
// The structs here are the file format only. The agent maps them to the plain
// Options structs of the spool, downsample and uplink packages.
package config

import (
	"time"

	"github.com/edgespool/edgespool/agent/intake"
	"github.com/edgespool/edgespool/downsample"
	"github.com/edgespool/edgespool/spool"
	"github.com/edgespool/edgespool/uplink"
)

// DefaultCommitMaxDelay is spool.commit_max_delay's default: a group
// commit waits up to 10 ms for more records, so that at high rates there
// are at most about 100 commits a second instead of one after another:
// each commit wakes the forwarders and the downsample and so sets their
// batch sizes (the measurement is in agent/e2e/BENCHMARKS.md).
const DefaultCommitMaxDelay = 10 * time.Millisecond

// DefaultMemoryLimit is memory_limit's default: well above what the agent
// holds live and while it drains a backlog at full speed, so that it costs
// no CPU there, and low enough that a gateway with 256 MB of memory keeps
// room for the system, the broker and the spool file's page cache.
const DefaultMemoryLimit = 64 << 20

// Config is the whole file.
type Config struct {
	MQTT       MQTT       `yaml:"mqtt"`
	Spool      Spool      `yaml:"spool"`
	Kafka      Kafka      `yaml:"kafka"`
	InfluxDB   InfluxDB   `yaml:"influxdb"`
	Uplink     Uplink     `yaml:"uplink"`
	Downsample Downsample `yaml:"downsample"`
	HTTP       HTTP       `yaml:"http"`
	Log        Log        `yaml:"log"`
	Broker     Broker     `yaml:"broker"`
	// MemoryLimit is the Go runtime's soft memory limit
	// (runtime/debug.SetMemoryLimit); 0 leaves the runtime's (GOMEMLIMIT
	// from the environment, else none).
	MemoryLimit ByteSize `yaml:"memory_limit"`
}

// TLS is a client TLS setup, shared by MQTT, Kafka and InfluxDB.
type TLS struct {
	Enabled            bool   `yaml:"enabled"`
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// MQTT is the intake from the site's broker.
type MQTT struct {
	Broker         string        `yaml:"broker"`
	ClientID       string        `yaml:"client_id"`
	Username       string        `yaml:"username"`
	Password       string        `yaml:"password"`
	Topics         []string      `yaml:"topics"`
	QoS            int           `yaml:"qos"`
	PayloadFormat  string        `yaml:"payload_format"`
	MaxInflight    int           `yaml:"max_inflight"`
	MaxPayload     ByteSize      `yaml:"max_payload"`
	MaxFuture      time.Duration `yaml:"max_future"`
	KeepAlive      time.Duration `yaml:"keepalive"`
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	ReconnectMax   time.Duration `yaml:"reconnect_max"`
	// DirectPuback writes the PUBACKs of a spool commit in one write
	// (default true); false acknowledges through the MQTT library.
	DirectPuback bool `yaml:"direct_puback"`
	TLS          TLS  `yaml:"tls"`
}

// Spool is the durable on-disk store.
type Spool struct {
	Path             string        `yaml:"path"`
	MaxBytes         ByteSize      `yaml:"max_bytes"`
	MaxAge           time.Duration `yaml:"max_age"`
	Overflow         string        `yaml:"overflow"`
	CommitMaxRecords int           `yaml:"commit_max_records"`
	CommitMaxDelay   time.Duration `yaml:"commit_max_delay"`
	NoSync           bool          `yaml:"no_sync"`
}

// SASL is Kafka authentication.
type SASL struct {
	Mechanism string `yaml:"mechanism"`
	Username  string `yaml:"username"`
	Password  string `yaml:"password"`
}

// Kafka is the Kafka uplink.
type Kafka struct {
	Enabled          bool     `yaml:"enabled"`
	Brokers          []string `yaml:"brokers"`
	RawTopic         string   `yaml:"raw_topic"`
	DownsampledTopic string   `yaml:"downsampled_topic"`
	Compression      string   `yaml:"compression"`
	BatchMaxRecords  int      `yaml:"batch_max_records"`
	BandwidthLimit   ByteSize `yaml:"bandwidth_limit"`
	TLS              TLS      `yaml:"tls"`
	SASL             SASL     `yaml:"sasl"`
}

// InfluxDB is the InfluxDB uplink (2.x API, or 1.8+ with db/rp buckets).
type InfluxDB struct {
	Enabled           bool     `yaml:"enabled"`
	URL               string   `yaml:"url"`
	Token             string   `yaml:"token"`
	Org               string   `yaml:"org"`
	RawBucket         string   `yaml:"raw_bucket"`
	DownsampledBucket string   `yaml:"downsampled_bucket"`
	BatchMaxPoints    int      `yaml:"batch_max_points"`
	ParallelWrites    int      `yaml:"parallel_writes"`
	Gzip              bool     `yaml:"gzip"`
	BandwidthLimit    ByteSize `yaml:"bandwidth_limit"`
	TLS               TLS      `yaml:"tls"`
}

// Uplink holds settings shared by every forwarder.
type Uplink struct {
	BackoffMin   time.Duration `yaml:"backoff_min"`
	BackoffMax   time.Duration `yaml:"backoff_max"`
	DrainTimeout time.Duration `yaml:"drain_timeout"`
	// MaxBatchBytes bounds the spooled payload bytes of one forwarder
	// batch.
	MaxBatchBytes ByteSize `yaml:"max_batch_bytes"`
	// ProbeInterval is how often a sink that cannot be connected to is
	// probed with a TCP connect; 0 turns probing off.
	ProbeInterval time.Duration `yaml:"probe_interval"`
}

// AlarmRule is one alarm: label On when `field op threshold` holds, else Off.
type AlarmRule struct {
	Field     string  `yaml:"field"`
	Op        string  `yaml:"op"`
	Threshold float64 `yaml:"threshold"`
	On        string  `yaml:"on"`
	Off       string  `yaml:"off"`
}

// Downsample is the edge downsample and local alarms.
type Downsample struct {
	Enabled         bool          `yaml:"enabled"`
	Window          time.Duration `yaml:"window"`
	AllowedLateness time.Duration `yaml:"allowed_lateness"`
	IdleGrace       time.Duration `yaml:"idle_grace"`
	Retention       time.Duration `yaml:"retention"`
	Region          string        `yaml:"region"`
	AlarmTopic      string        `yaml:"alarm_topic"`
	AlarmRetain     bool          `yaml:"alarm_retain"`
	Alarm           AlarmRule     `yaml:"alarm"`
}

// HTTP is the operations endpoint.
type HTTP struct {
	Listen string `yaml:"listen"`
}

// Log is the daemon's own logging.
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
	File   string `yaml:"file"`
}

// Default returns the configuration used for every key the file leaves out.
// Where a library has a default for a setting, it is taken from the library
// (its Options' WithDefaults), so that the two cannot disagree. The
// exceptions are settings whose zero value means something in the file (0
// is "no wait" for spool.commit_max_delay) and settings only the agent has.
func Default() Config {
	in := intake.Options{}.WithDefaults()
	sp := spool.Options{}.WithDefaults()
	kafka := uplink.KafkaOptions{}.WithDefaults()
	influx := uplink.InfluxOptions{}.WithDefaults()
	backoff := uplink.BackoffOptions{}.WithDefaults()
	ds, err := downsample.Options{}.WithDefaults()
	if err != nil {
		panic("downsample defaults: " + err.Error()) // a bug in the library
	}
	rule := ds.Rules[0]
	return Config{
		MQTT: MQTT{
			Broker: "tcp://127.0.0.1:1883", Topics: in.Topics, QoS: 1, PayloadFormat: "auto",
			MaxInflight: in.MaxInflight, MaxPayload: 16 << 10, MaxFuture: ds.MaxFuture,
			KeepAlive: in.KeepAlive, ConnectTimeout: in.ConnectTimeout, ReconnectMax: in.ReconnectMax,
			DirectPuback: !in.DisableDirectAck,
		},
		Spool: Spool{Path: "/var/lib/edgespool/spool.db", MaxBytes: ByteSize(sp.MaxBytes),
			Overflow: "drop_oldest", CommitMaxRecords: sp.CommitMaxRecords,
			CommitMaxDelay: DefaultCommitMaxDelay},
		Kafka: Kafka{Brokers: []string{"127.0.0.1:9092"}, RawTopic: uplink.DefaultRawTopic,
			DownsampledTopic: uplink.DefaultDownsampledTopic, Compression: "lz4", BatchMaxRecords: kafka.BatchRecords},
		InfluxDB: InfluxDB{URL: "http://127.0.0.1:8086", RawBucket: uplink.DefaultRawBucket,
			DownsampledBucket: uplink.DefaultDownsampledBucket, BatchMaxPoints: influx.BatchPoints,
			ParallelWrites: influx.Parallel, Gzip: true},
		Uplink: Uplink{BackoffMin: backoff.Min, BackoffMax: backoff.Max, DrainTimeout: 10 * time.Second,
			MaxBatchBytes: uplink.DefaultBatchBytes, ProbeInterval: uplink.DefaultProbeInterval},
		Downsample: Downsample{Enabled: true, Window: ds.Window, AllowedLateness: ds.Lateness,
			IdleGrace: ds.IdleGrace, Retention: ds.Retention, Region: ds.Region,
			AlarmTopic: "emergency_generator/{generatorID}/alarm", AlarmRetain: true,
			Alarm: AlarmRule{Field: string(rule.Field), Op: string(rule.Op), Threshold: rule.Threshold,
				On: rule.Label, Off: ds.DefaultLabel}},
		HTTP:        HTTP{Listen: "127.0.0.1:9273"},
		Log:         Log{Level: "info", Format: "text"},
		MemoryLimit: DefaultMemoryLimit,
		Broker:      DefaultBroker(),
	}
}
