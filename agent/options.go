package agent

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/edgespool/edgespool/agent/config"
	"github.com/edgespool/edgespool/agent/intake"
	"github.com/edgespool/edgespool/agent/model"
	"github.com/edgespool/edgespool/agent/tlsconf"
	"github.com/edgespool/edgespool/downsample"
	"github.com/edgespool/edgespool/uplink"
)

func (a *Agent) intakeOptions() (intake.Options, error) {
	m := a.cfg.MQTT
	m.Broker, m.Username, m.Password = moveUserinfo(m.Broker, m.Username, m.Password)
	o := intake.Options{Broker: m.Broker, ClientID: m.ClientID, Username: m.Username, Password: m.Password,
		Topics: m.Topics, KeepAlive: m.KeepAlive, ConnectTimeout: m.ConnectTimeout, ReconnectMax: m.ReconnectMax,
		MaxInflight: m.MaxInflight, CommitMaxRecords: a.cfg.Spool.CommitMaxRecords, DisableDirectAck: !m.DirectPuback,
		Decoder:    intake.Decoder{MaxPayload: int(m.MaxPayload), MaxFuture: m.MaxFuture, Format: payloadFormat(m.PayloadFormat)},
		Ignore:     alarmTopicMatcher(a.cfg.Downsample),
		Logger:     a.log.With("component", "mqtt"),
		Registerer: a.reg,
		Clock:      a.clk}
	broker, secure := tlsBroker(m.Broker, m.TLS.Enabled)
	if !secure {
		return o, nil
	}
	t := tlsOptions(m.TLS)
	t.Enable = true
	tc, err := t.Config()
	if err != nil {
		return o, fmt.Errorf("mqtt: %w", err)
	}
	o.Broker, o.TLS = broker, tc
	return o, nil
}

// moveUserinfo takes the credentials out of a broker URL such as
// tcp://user:secret@host:1883, so that the URL the intake logs and shows in
// /status holds no password. As in paho, the URL's credentials win over the
// username and password settings.
func moveUserinfo(broker, user, pass string) (string, string, string) {
	u, err := url.Parse(broker)
	if err != nil || u.User == nil {
		return broker, user, pass
	}
	user = u.User.Username()
	if p, ok := u.User.Password(); ok {
		pass = p
	}
	u.User = nil
	return u.String(), user, pass
}

// tlsBroker reports whether the broker URL asks for TLS, or enabled does;
// with enabled, a plain scheme is switched to its TLS twin (tcp and mqtt to
// ssl, ws to wss) so that the connection can never silently go out in clear.
func tlsBroker(broker string, enabled bool) (string, bool) {
	scheme, rest, ok := strings.Cut(broker, "://")
	if !ok {
		return broker, enabled
	}
	switch scheme {
	case "ssl", "tls", "mqtts", "wss":
		return broker, true
	case "ws":
		scheme = "wss"
	default:
		scheme = "ssl"
	}
	if !enabled {
		return broker, false
	}
	return scheme + "://" + rest, true
}

func payloadFormat(s string) intake.Format {
	switch s {
	case "json":
		return intake.FormatJSON
	case "line":
		return intake.FormatLine
	}
	return intake.FormatAuto
}

// alarmTopicMatcher recognises the agent's own alarm topics, so that a wide
// subscription (emergency_generator/#) does not feed alarms back in.
func alarmTopicMatcher(d config.Downsample) func(string) bool {
	if !d.Enabled || d.AlarmTopic == "" {
		return nil
	}
	prefix, suffix, _ := strings.Cut(d.AlarmTopic, "{generatorID}")
	return func(topic string) bool {
		return len(topic) > len(prefix)+len(suffix) && strings.HasPrefix(topic, prefix) &&
			strings.HasSuffix(topic, suffix) && !strings.Contains(topic[len(prefix):len(topic)-len(suffix)], "/")
	}
}

func tlsOptions(t config.TLS) tlsconf.Options {
	return tlsconf.Options{Enable: t.Enabled, CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile,
		ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
}

func kafkaSASL(s config.SASL) uplink.SASLOptions {
	return uplink.SASLOptions{Mechanism: s.Mechanism, Username: s.Username, Password: s.Password}
}

func (a *Agent) kafkaOptions() uplink.KafkaOptions {
	k := a.cfg.Kafka
	return uplink.KafkaOptions{Name: sinkKafka, Brokers: k.Brokers,
		Topics:      map[string]string{model.StreamRaw: k.RawTopic, model.StreamDownsampled: k.DownsampledTopic},
		Compression: k.Compression, BatchRecords: k.BatchMaxRecords, MaxBytesPerSecond: int64(k.BandwidthLimit),
		TLS: tlsOptions(k.TLS), SASL: kafkaSASL(k.SASL), Logger: a.log.With("component", "kafka"), Clock: a.clk}
}

func (a *Agent) influxOptions() uplink.InfluxOptions {
	i := a.cfg.InfluxDB
	return uplink.InfluxOptions{Name: sinkInflux, URL: i.URL, Org: i.Org, Token: i.Token,
		Buckets:     map[string]string{model.StreamRaw: i.RawBucket, model.StreamDownsampled: i.DownsampledBucket},
		BatchPoints: i.BatchMaxPoints, Parallel: i.ParallelWrites, NoGzip: !i.Gzip, MaxBytesPerSecond: int64(i.BandwidthLimit),
		TLS: tlsOptions(i.TLS), Logger: a.log.With("component", "influx"), Clock: a.clk}
}

// batchBytes is the forwarders' byte bound per batch.
func (a *Agent) batchBytes() int { return int(a.cfg.Uplink.MaxBatchBytes) }

// probeInterval maps uplink.probe_interval (0: off) onto the link's
// option (negative: off).
func (a *Agent) probeInterval() time.Duration {
	if a.cfg.Uplink.ProbeInterval == 0 {
		return -1
	}
	return a.cfg.Uplink.ProbeInterval
}

func (a *Agent) backoffOptions() uplink.BackoffOptions {
	return uplink.BackoffOptions{Min: a.cfg.Uplink.BackoffMin, Max: a.cfg.Uplink.BackoffMax}
}

// downsampleOptions maps the downsample section (and mqtt.max_future) onto
// the engine's window and alarm options.
func (a *Agent) downsampleOptions() downsample.Options {
	d := a.cfg.Downsample
	return downsample.Options{Window: d.Window, Lateness: d.AllowedLateness, IdleGrace: d.IdleGrace,
		Retention: d.Retention, MaxFuture: a.cfg.MQTT.MaxFuture, Region: d.Region, DefaultLabel: d.Alarm.Off,
		Rules: []downsample.Rule{{Field: downsample.Field(d.Alarm.Field), Op: downsample.Op(d.Alarm.Op),
			Threshold: d.Alarm.Threshold, Label: d.Alarm.On}}}
}
