package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestShippedConfigIsValidAndEqualsDefaults(t *testing.T) {
	data, err := os.ReadFile("../../packaging/edgespool.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := parseWith(data, noEnv, fixedIDs)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.MQTT.ClientID, _ = fixedIDs("").DefaultClientID()
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("shipped file differs from the defaults:\n got %+v\nwant %+v", cfg, want)
	}
}

func TestEmptyFileIsDefaults(t *testing.T) {
	cfg, err := parseWith(nil, noEnv, fixedIDs)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MQTT.Broker != "tcp://127.0.0.1:1883" || cfg.Spool.MaxBytes != 1<<30 || cfg.MQTT.ClientID == "" {
		t.Fatalf("%+v", cfg)
	}
}

func noEnv(string) (string, bool) { return "", false }

// fixedIDs is an IDSource of a host "gw" with machine id "m1".
func fixedIDs(string) IDSource {
	return IDSource{Hostname: func() (string, error) { return "gw", nil },
		MachineID: func() (string, error) { return "m1", nil }}
}

func TestUnknownKeyNamesKeyAndLine(t *testing.T) {
	_, err := parseWith([]byte("mqtt:\n  broker: tcp://x:1\n  max_inflite: 5\n"), noEnv, fixedIDs)
	if err == nil || !strings.Contains(err.Error(), "line 3") || !strings.Contains(err.Error(), "max_inflite") {
		t.Fatalf("got %v", err)
	}
	_, err = parseWith([]byte("mqtt: {}\n---\nlog: {}\n"), noEnv, fixedIDs)
	if err == nil {
		t.Fatal("second document accepted")
	}
	_, err = parseWith([]byte("mqtt:\n  max_inflight: lots\n"), noEnv, fixedIDs)
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("type error: %v", err)
	}
}

func TestEnvExpansion(t *testing.T) {
	env := map[string]string{"PW": "s3cr:et", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cfg, err := parseWith([]byte("mqtt:\n  password: ${PW}\n  username: ${NOPE:-fallback}\n"+
		"  client_id: a$${b}c${EMPTY}\n  topics: [\"x/${EMPTY:-y}/+\"]\n"), lookup, fixedIDs)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MQTT.Password != "s3cr:et" || cfg.MQTT.Username != "fallback" || cfg.MQTT.ClientID != "a${b}c" ||
		cfg.MQTT.Topics[0] != "x/y/+" {
		t.Fatalf("%+v", cfg.MQTT)
	}
	_, err = parseWith([]byte("influxdb:\n  token: ${INFLUX_TOKEN}\n"), lookup, fixedIDs)
	if !errors.Is(err, ErrUnsetEnv) || !strings.Contains(err.Error(), "influxdb.token") {
		t.Fatalf("unset: %v", err)
	}
	for _, bad := range []string{"${", "${}"} {
		if _, err := parseWith([]byte("log:\n  file: \""+bad+"\"\n"), lookup, fixedIDs); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"0": 0, "512": 512, "64KiB": 64 << 10, "1GiB": 1 << 30,
		"100MB": 100e6, "5 MiB": 5 << 20, "3kB": 3000} {
		got, err := ParseByteSize(in)
		if err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "-1", "1.5GiB", "lots", "99999999999GiB"} {
		if _, err := ParseByteSize(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if s := ByteSize(1 << 30).String(); s != "1GiB" {
		t.Error(s)
	}
}

// TestValidationErrors walks every validation path: each case breaks one
// field and expects exactly that field to be named.
func TestValidationErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.pem")
	cases := []struct {
		field string
		mut   func(c *Config)
	}{
		{"mqtt.broker", func(c *Config) { c.MQTT.Broker = "" }},
		{"mqtt.broker", func(c *Config) { c.MQTT.Broker = "127.0.0.1:1883" }},
		{"mqtt.broker", func(c *Config) { c.MQTT.Broker = "http://h:1" }},
		{"mqtt.client_id", func(c *Config) { c.MQTT.ClientID = "a/b" }},
		{"mqtt.topics", func(c *Config) { c.MQTT.Topics = nil }},
		{"mqtt.topics[1]", func(c *Config) { c.MQTT.Topics = []string{"a/+", "a/#/b"} }},
		{"mqtt.topics[0]", func(c *Config) { c.MQTT.Topics = []string{"a/b+"} }},
		{"mqtt.topics[0]", func(c *Config) { c.MQTT.Topics = []string{""} }},
		{"mqtt.qos", func(c *Config) { c.MQTT.QoS = 0 }},
		{"mqtt.payload_format", func(c *Config) { c.MQTT.PayloadFormat = "xml" }},
		{"mqtt.max_inflight", func(c *Config) { c.MQTT.MaxInflight = 0 }},
		{"mqtt.max_inflight", func(c *Config) { c.MQTT.MaxInflight = 70000 }},
		{"mqtt.max_payload", func(c *Config) { c.MQTT.MaxPayload = 10 }},
		{"mqtt.max_future", func(c *Config) { c.MQTT.MaxFuture = 0 }},
		{"mqtt.keepalive", func(c *Config) { c.MQTT.KeepAlive = 0 }},
		{"mqtt.keepalive", func(c *Config) { c.MQTT.KeepAlive = 100 * time.Hour }},
		{"mqtt.connect_timeout", func(c *Config) { c.MQTT.ConnectTimeout = 0 }},
		{"mqtt.reconnect_max", func(c *Config) { c.MQTT.ReconnectMax = time.Millisecond }},
		{"mqtt.tls", func(c *Config) { c.MQTT.TLS = TLS{Enabled: true, CertFile: "/etc/hostname"} }},
		{"mqtt.tls.ca_file", func(c *Config) { c.MQTT.TLS = TLS{Enabled: true, CAFile: missing} }},
		{"spool.path", func(c *Config) { c.Spool.Path = "" }},
		{"spool.max_bytes", func(c *Config) { c.Spool.MaxBytes = 1000 }},
		{"spool.max_age", func(c *Config) { c.Spool.MaxAge = -time.Second }},
		{"spool.overflow", func(c *Config) { c.Spool.Overflow = "panic" }},
		{"spool.commit_max_records", func(c *Config) { c.Spool.CommitMaxRecords = 0 }},
		{"spool.commit_max_delay", func(c *Config) { c.Spool.CommitMaxDelay = 2 * time.Second }},
		{"kafka.brokers", func(c *Config) { c.Kafka.Enabled, c.Kafka.Brokers = true, nil }},
		{"kafka.brokers[0]", func(c *Config) { c.Kafka.Enabled, c.Kafka.Brokers = true, []string{"nohost"} }},
		{"kafka.raw_topic", func(c *Config) { c.Kafka.Enabled, c.Kafka.RawTopic = true, "" }},
		{"kafka.downsampled_topic", func(c *Config) { c.Kafka.Enabled, c.Kafka.DownsampledTopic = true, "a topic" }},
		{"kafka.compression", func(c *Config) { c.Kafka.Enabled, c.Kafka.Compression = true, "brotli" }},
		{"kafka.batch_max_records", func(c *Config) { c.Kafka.Enabled, c.Kafka.BatchMaxRecords = true, 0 }},
		{"kafka.bandwidth_limit", func(c *Config) { c.Kafka.Enabled, c.Kafka.BandwidthLimit = true, -1 }},
		{"kafka.tls.key_file", func(c *Config) {
			c.Kafka.Enabled, c.Kafka.TLS = true, TLS{Enabled: true, CertFile: "/etc/hostname", KeyFile: missing}
		}},
		{"kafka.sasl.mechanism", func(c *Config) { c.Kafka.Enabled, c.Kafka.SASL.Mechanism = true, "GSSAPI" }},
		{"kafka.sasl", func(c *Config) { c.Kafka.Enabled, c.Kafka.SASL = true, SASL{Mechanism: "PLAIN"} }},
		{"influxdb.url", func(c *Config) { c.InfluxDB.Enabled, c.InfluxDB.URL = true, "ftp://x" }},
		{"influxdb.raw_bucket", func(c *Config) { c.InfluxDB.Enabled, c.InfluxDB.RawBucket = true, "" }},
		{"influxdb.downsampled_bucket", func(c *Config) { c.InfluxDB.Enabled, c.InfluxDB.DownsampledBucket = true, "" }},
		{"influxdb.batch_max_points", func(c *Config) { c.InfluxDB.Enabled, c.InfluxDB.BatchMaxPoints = true, 0 }},
		{"influxdb.parallel_writes", func(c *Config) { c.InfluxDB.Enabled, c.InfluxDB.ParallelWrites = true, 17 }},
		{"influxdb.bandwidth_limit", func(c *Config) { c.InfluxDB.Enabled, c.InfluxDB.BandwidthLimit = true, -5 }},
		{"influxdb.tls", func(c *Config) {
			c.InfluxDB.Enabled, c.InfluxDB.TLS = true, TLS{Enabled: true, KeyFile: "/etc/hostname"}
		}},
		{"uplink.backoff_min", func(c *Config) { c.Uplink.BackoffMin = 0 }},
		{"uplink.backoff_max", func(c *Config) { c.Uplink.BackoffMax = time.Millisecond }},
		{"uplink.drain_timeout", func(c *Config) { c.Uplink.DrainTimeout = time.Hour }},
		{"uplink.max_batch_bytes", func(c *Config) { c.Uplink.MaxBatchBytes = 100 }},
		{"uplink.max_batch_bytes", func(c *Config) { c.Uplink.MaxBatchBytes = 1 << 30 }},
		{"uplink.probe_interval", func(c *Config) { c.Uplink.ProbeInterval = 10 * time.Millisecond }},
		{"uplink.probe_interval", func(c *Config) { c.Uplink.ProbeInterval = -time.Second }},
		{"memory_limit", func(c *Config) { c.MemoryLimit = 1 << 20 }},
		{"downsample.window", func(c *Config) { c.Downsample.Window = 0 }},
		{"downsample.allowed_lateness", func(c *Config) { c.Downsample.AllowedLateness = -1 }},
		{"downsample.idle_grace", func(c *Config) { c.Downsample.IdleGrace = 0 }},
		{"downsample.retention", func(c *Config) { c.Downsample.Retention = time.Minute }},
		{"downsample.region", func(c *Config) { c.Downsample.Region = "" }},
		{"downsample.alarm_topic", func(c *Config) { c.Downsample.AlarmTopic = "alarms/+" }},
		{"downsample.alarm_topic", func(c *Config) { c.Downsample.AlarmTopic = "alarms" }},
		{"downsample.alarm.field", func(c *Config) { c.Downsample.Alarm.Field = "oil" }},
		{"downsample.alarm.op", func(c *Config) { c.Downsample.Alarm.Op = "=<" }},
		{"downsample.alarm", func(c *Config) { c.Downsample.Alarm.On = c.Downsample.Alarm.Off }},
		{"http.listen", func(c *Config) { c.HTTP.Listen = "9273" }},
		{"log.level", func(c *Config) { c.Log.Level = "verbose" }},
		{"log.format", func(c *Config) { c.Log.Format = "xml" }},
	}
	for _, c := range cases {
		cfg := Default()
		c.mut(&cfg)
		err := cfg.Validate()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != c.field || strings.Count(err.Error(), "\n") != 0 {
			t.Errorf("%s: got %v", c.field, err)
		}
	}
}

func TestDisabledSectionsAreNotValidated(t *testing.T) {
	cfg := Default()
	cfg.Kafka.Brokers, cfg.InfluxDB.URL = nil, ""
	cfg.Downsample.Enabled, cfg.Downsample.Window = false, 0
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "nope.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
}
