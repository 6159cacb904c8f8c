package agent

import (
	"fmt"
	"strings"

	"github.com/edgespool/edgespool/agent/model"
	"github.com/edgespool/edgespool/agent/tlsconf"

	"github.com/edgespool/edgespool/agent/config"
	"github.com/edgespool/edgespool/agent/intake"
)

// Consumer names of the cursors on the spool.
const ConsumerDownsample = "downsample"

// consumers lists the cursors each stream must keep records for.
func (a *Agent) consumers() map[string][]string {
	c := map[string][]string{}
	if a.cfg.Downsample.Enabled {
		c[model.StreamRaw] = append(c[model.StreamRaw], ConsumerDownsample)
	}
	for _, sink := range a.enabledSinks() {
		c[model.StreamRaw] = append(c[model.StreamRaw], sink+"/raw")
		c[model.StreamDownsampled] = append(c[model.StreamDownsampled], sink+"/down")
	}
	return c
}

func (a *Agent) enabledSinks() []string {
	var s []string
	if a.cfg.Kafka.Enabled {
		s = append(s, "kafka")
	}
	if a.cfg.InfluxDB.Enabled {
		s = append(s, "influx")
	}
	return s
}

func (a *Agent) intakeOptions() (intake.Options, error) {
	m := a.cfg.MQTT
	o := intake.Options{Broker: m.Broker, ClientID: m.ClientID, Username: m.Username, Password: m.Password,
		Topics: m.Topics, KeepAlive: m.KeepAlive, ConnectTimeout: m.ConnectTimeout, ReconnectMax: m.ReconnectMax,
		MaxInflight: m.MaxInflight, CommitMaxRecords: a.cfg.Spool.CommitMaxRecords,
		Decoder:    intake.Decoder{MaxPayload: int(m.MaxPayload), MaxFuture: m.MaxFuture, Format: payloadFormat(m.PayloadFormat)},
		Ignore:     alarmTopicMatcher(a.cfg.Downsample),
		Logger:     a.log.With("component", "mqtt"),
		Registerer: a.reg}
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
