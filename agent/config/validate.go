package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"
)

// FieldError names one invalid field and what is wrong with it.
type FieldError struct {
	Field   string // dotted YAML path, e.g. "mqtt.max_inflight"
	Line    int    // line in the file, 0 when unknown (a default)
	Problem string
}

func (e *FieldError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s (line %d): %s", e.Field, e.Line, e.Problem)
	}
	return e.Field + ": " + e.Problem
}

// problems collects FieldErrors.
type problems []error

func (p *problems) add(field, format string, a ...any) {
	*p = append(*p, &FieldError{Field: field, Problem: fmt.Sprintf(format, a...)})
}

// Validate reports every invalid field, joined (errors.Join); each is a
// *FieldError.
func (c *Config) Validate() error {
	var p problems
	c.MQTT.validate(&p)
	c.Spool.validate(&p)
	if c.Kafka.Enabled {
		c.Kafka.validate(&p)
	}
	if c.InfluxDB.Enabled {
		c.InfluxDB.validate(&p)
	}
	c.Uplink.validate(&p)
	if c.Downsample.Enabled {
		c.Downsample.validate(&p)
	}
	if c.HTTP.Listen != "" {
		if err := checkListen(c.HTTP.Listen); err != nil {
			p.add("http.listen", "%v", err)
		}
	}
	c.Log.validate(&p)
	c.validateBroker(&p)
	if c.MemoryLimit != 0 {
		checkRange(&p, "memory_limit", int64(c.MemoryLimit), MinMemoryLimit, 1<<40)
	}
	return errors.Join(p...)
}

func (m *MQTT) validate(p *problems) {
	u, err := url.Parse(m.Broker)
	switch {
	case m.Broker == "":
		p.add("mqtt.broker", "is required")
	case err != nil || u.Host == "":
		p.add("mqtt.broker", "want a URL such as tcp://127.0.0.1:1883, got %q", RedactURL(m.Broker))
	case !oneOf(u.Scheme, "tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss"):
		p.add("mqtt.broker", "unsupported scheme %q (tcp, mqtt, ssl, tls, mqtts, ws, wss)", u.Scheme)
	}
	if len(m.ClientID) > 65535 || strings.ContainsAny(m.ClientID, "+#/") {
		p.add("mqtt.client_id", "must be at most 65535 bytes without + # /")
	}
	if len(m.Topics) == 0 {
		p.add("mqtt.topics", "needs at least one topic filter")
	}
	for i, t := range m.Topics {
		if err := checkTopicFilter(t); err != nil {
			p.add(fmt.Sprintf("mqtt.topics[%d]", i), "%v", err)
		}
	}
	if m.QoS != 1 {
		p.add("mqtt.qos", "must be 1 (QoS 0 loses readings; manual acknowledgement needs QoS 1)")
	}
	if !oneOf(m.PayloadFormat, "auto", "json", "line") {
		p.add("mqtt.payload_format", "must be auto, json or line, got %q", m.PayloadFormat)
	}
	checkRange(p, "mqtt.max_inflight", int64(m.MaxInflight), 1, 65535)
	checkRange(p, "mqtt.max_payload", int64(m.MaxPayload), 64, 16<<20)
	checkDuration(p, "mqtt.max_future", m.MaxFuture, time.Second, 0)
	checkDuration(p, "mqtt.keepalive", m.KeepAlive, time.Second, 65535*time.Second)
	checkDuration(p, "mqtt.connect_timeout", m.ConnectTimeout, 100*time.Millisecond, 0)
	checkDuration(p, "mqtt.reconnect_max", m.ReconnectMax, time.Second, 0)
	m.TLS.validate(p, "mqtt.tls")
}

func (s *Spool) validate(p *problems) {
	if s.Path == "" {
		p.add("spool.path", "is required")
	}
	checkRange(p, "spool.max_bytes", int64(s.MaxBytes), 1<<20, 1<<50)
	if s.MaxAge < 0 {
		p.add("spool.max_age", "must not be negative (0 means no age cap)")
	}
	if !oneOf(s.Overflow, "drop_oldest", "reject_new") {
		p.add("spool.overflow", "must be drop_oldest or reject_new, got %q", s.Overflow)
	}
	checkRange(p, "spool.commit_max_records", int64(s.CommitMaxRecords), 1, 1000000)
	checkDuration(p, "spool.commit_max_delay", s.CommitMaxDelay, 0, time.Second)
}

func (k *Kafka) validate(p *problems) {
	if len(k.Brokers) == 0 {
		p.add("kafka.brokers", "needs at least one host:port")
	}
	for i, b := range k.Brokers {
		if _, port, err := net.SplitHostPort(b); err != nil || port == "" {
			p.add(fmt.Sprintf("kafka.brokers[%d]", i), "want host:port, got %q", RedactURL(b))
		}
	}
	checkKafkaTopic(p, "kafka.raw_topic", k.RawTopic)
	checkKafkaTopic(p, "kafka.downsampled_topic", k.DownsampledTopic)
	if !oneOf(k.Compression, "none", "gzip", "snappy", "lz4", "zstd") {
		p.add("kafka.compression", "must be none, gzip, snappy, lz4 or zstd, got %q", k.Compression)
	}
	checkRange(p, "kafka.batch_max_records", int64(k.BatchMaxRecords), 1, 1000000)
	checkRange(p, "kafka.bandwidth_limit", int64(k.BandwidthLimit), 0, 1<<40)
	k.TLS.validate(p, "kafka.tls")
	switch {
	case k.SASL.Mechanism == "":
	case !oneOf(k.SASL.Mechanism, "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
		p.add("kafka.sasl.mechanism", "must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, got %q", k.SASL.Mechanism)
	case k.SASL.Username == "" || k.SASL.Password == "":
		p.add("kafka.sasl", "mechanism %s needs username and password", k.SASL.Mechanism)
	}
}

func (i *InfluxDB) validate(p *problems) {
	u, err := url.Parse(i.URL)
	if err != nil || u.Host == "" || !oneOf(u.Scheme, "http", "https") {
		p.add("influxdb.url", "want an http:// or https:// URL, got %q", RedactURL(i.URL))
	}
	if i.RawBucket == "" {
		p.add("influxdb.raw_bucket", "is required")
	}
	if i.DownsampledBucket == "" {
		p.add("influxdb.downsampled_bucket", "is required")
	}
	checkRange(p, "influxdb.batch_max_points", int64(i.BatchMaxPoints), 1, 1000000)
	checkRange(p, "influxdb.parallel_writes", int64(i.ParallelWrites), 1, 16)
	checkRange(p, "influxdb.bandwidth_limit", int64(i.BandwidthLimit), 0, 1<<40)
	i.TLS.validate(p, "influxdb.tls")
}

func (u *Uplink) validate(p *problems) {
	checkDuration(p, "uplink.backoff_min", u.BackoffMin, time.Millisecond, 0)
	checkDuration(p, "uplink.backoff_max", u.BackoffMax, u.BackoffMin, 0)
	checkDuration(p, "uplink.drain_timeout", u.DrainTimeout, 0, 10*time.Minute)
	checkRange(p, "uplink.max_batch_bytes", int64(u.MaxBatchBytes), 1<<10, 64<<20)
	if u.ProbeInterval != 0 {
		checkDuration(p, "uplink.probe_interval", u.ProbeInterval, 100*time.Millisecond, time.Hour)
	}
}

// MinMemoryLimit is the smallest memory_limit other than 0: below it the
// runtime would collect garbage without pause.
const MinMemoryLimit = 16 << 20

func (d *Downsample) validate(p *problems) {
	checkDuration(p, "downsample.window", d.Window, time.Second, 24*time.Hour)
	checkDuration(p, "downsample.allowed_lateness", d.AllowedLateness, 0, 24*time.Hour)
	checkDuration(p, "downsample.idle_grace", d.IdleGrace, time.Second, 0)
	checkDuration(p, "downsample.retention", d.Retention, d.Window+d.AllowedLateness+d.IdleGrace, 0)
	if d.Region == "" {
		p.add("downsample.region", "is required (the reference uses US)")
	}
	if d.AlarmTopic != "" && (!strings.Contains(d.AlarmTopic, "{generatorID}") || strings.ContainsAny(d.AlarmTopic, "+#")) {
		p.add("downsample.alarm_topic", "must contain {generatorID} and no wildcards (empty disables), got %q", d.AlarmTopic)
	}
	d.Alarm.validate(p)
}

func (a *AlarmRule) validate(p *problems) {
	if !oneOf(a.Field, "fuel", "temperature", "power", "load", "lat", "lon") {
		p.add("downsample.alarm.field", "must be one of fuel, temperature, power, load, lat, lon, got %q", a.Field)
	}
	if !oneOf(a.Op, "<", "<=", ">", ">=", "==", "!=") {
		p.add("downsample.alarm.op", "must be one of < <= > >= == !=, got %q", a.Op)
	}
	if a.On == "" || a.Off == "" || a.On == a.Off {
		p.add("downsample.alarm", "labels on and off must be non-empty and different")
	}
}

func (l *Log) validate(p *problems) {
	if !oneOf(l.Level, "debug", "info", "warn", "error") {
		p.add("log.level", "must be debug, info, warn or error, got %q", l.Level)
	}
	if !oneOf(l.Format, "text", "json") {
		p.add("log.format", "must be text or json, got %q", l.Format)
	}
}

func (t *TLS) validate(p *problems, field string) {
	if !t.Enabled {
		return
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		p.add(field, "cert_file and key_file go together (client certificate for mutual TLS)")
	}
	for name, f := range map[string]string{"ca_file": t.CAFile, "cert_file": t.CertFile, "key_file": t.KeyFile} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			p.add(field+"."+name, "cannot read %s: %v", f, errors.Unwrap(err))
		}
	}
}
