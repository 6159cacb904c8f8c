package agent

import (
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent/config"
	"github.com/edgespool/edgespool/agent/intake"
	"github.com/edgespool/edgespool/downsample"
	"github.com/edgespool/edgespool/spool"
	"github.com/edgespool/edgespool/uplink"
)

// TestConfigDefaultsAreLibraryDefaults maps config.Default() through the
// agent's option builders and compares every setting the file has with
// what each library does with a zero value. (agent/config's tests keep
// the shipped YAML and the reference in README.md equal to Default().)
func TestConfigDefaultsAreLibraryDefaults(t *testing.T) {
	cfg := config.Default()
	cfg.Kafka.Enabled, cfg.InfluxDB.Enabled = true, true
	a := New(cfg, slog.New(slog.DiscardHandler))
	same := func(name string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: config default %v, library default %v", name, got, want)
		}
	}

	in, err := a.intakeOptions()
	if err != nil {
		t.Fatal(err)
	}
	inDef := intake.Options{}.WithDefaults()
	same("mqtt.topics", in.Topics, inDef.Topics)
	same("mqtt.keepalive", in.KeepAlive, inDef.KeepAlive)
	same("mqtt.connect_timeout", in.ConnectTimeout, inDef.ConnectTimeout)
	same("mqtt.reconnect_max", in.ReconnectMax, inDef.ReconnectMax)
	same("mqtt.max_inflight", in.MaxInflight, inDef.MaxInflight)
	same("mqtt.direct_puback", in.DisableDirectAck, inDef.DisableDirectAck)
	same("spool.commit_max_records (intake)", in.CommitMaxRecords, inDef.CommitMaxRecords)

	sp, spDef := a.spoolOptions(), spool.Options{}.WithDefaults()
	same("spool.max_bytes", sp.MaxBytes, spDef.MaxBytes)
	same("spool.commit_max_records", sp.CommitMaxRecords, spDef.CommitMaxRecords)
	same("spool.overflow", sp.Overflow, spDef.Overflow)
	same("spool.max_age", sp.MaxAge, spDef.MaxAge)

	k, kDef := a.kafkaOptions().WithDefaults(), uplink.KafkaOptions{Brokers: cfg.Kafka.Brokers}.WithDefaults()
	same("kafka topics", k.Topics, kDef.Topics)
	same("kafka.batch_max_records", k.BatchRecords, kDef.BatchRecords)
	same("kafka.bandwidth_limit", k.MaxBytesPerSecond, kDef.MaxBytesPerSecond)

	i, iDef := a.influxOptions().WithDefaults(), uplink.InfluxOptions{URL: cfg.InfluxDB.URL}.WithDefaults()
	same("influxdb buckets", i.Buckets, iDef.Buckets)
	same("influxdb.batch_max_points", i.BatchPoints, iDef.BatchPoints)
	same("influxdb.parallel_writes", i.Parallel, iDef.Parallel)
	same("influxdb.gzip", i.NoGzip, iDef.NoGzip)

	same("uplink backoff", a.backoffOptions().WithDefaults(), uplink.BackoffOptions{}.WithDefaults())
	same("uplink.max_batch_bytes", a.batchBytes(), uplink.DefaultBatchBytes)
	same("uplink.probe_interval", a.probeInterval(), uplink.DefaultProbeInterval)

	ds, err := a.downsampleOptions().WithDefaults()
	if err != nil {
		t.Fatal(err)
	}
	dsDef, _ := downsample.Options{}.WithDefaults()
	same("downsample", ds, dsDef)
}

func TestProbeIntervalZeroTurnsProbingOff(t *testing.T) {
	for _, tc := range []struct {
		set  time.Duration
		want time.Duration
	}{{0, -1}, {500 * time.Millisecond, 500 * time.Millisecond}} {
		cfg := config.Default()
		cfg.Uplink.ProbeInterval = tc.set
		a := &Agent{cfg: cfg}
		if got := a.probeInterval(); got != tc.want {
			t.Errorf("uplink.probe_interval %v: link option %v, want %v", tc.set, got, tc.want)
		}
	}
}
