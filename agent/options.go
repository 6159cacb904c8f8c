package agent

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"

	"github.com/edgespool/edgespool/agent/config"
	"github.com/edgespool/edgespool/agent/intake"
	"github.com/edgespool/edgespool/downsample"
	"github.com/edgespool/edgespool/uplink"
)

// Consumer names of the cursors on the spool.
const ConsumerDownsample = "downsample"

// consumers lists the cursors each stream must keep records for.
func (a *Agent) consumers() map[string][]string {
	c := map[string][]string{}
	if a.cfg.Downsample.Enabled {
		c[downsample.StreamRaw] = append(c[downsample.StreamRaw], ConsumerDownsample)
	}
	for _, sink := range a.enabledSinks() {
		c[downsample.StreamRaw] = append(c[downsample.StreamRaw], sink+"/raw")
		c[downsample.StreamDownsampled] = append(c[downsample.StreamDownsampled], sink+"/down")
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

func (a *Agent) intakeOptions() intake.Options {
	m := a.cfg.MQTT
	o := intake.Options{Broker: m.Broker, ClientID: m.ClientID, Username: m.Username, Password: m.Password,
		Topics: m.Topics, KeepAlive: m.KeepAlive, ConnectTimeout: m.ConnectTimeout, ReconnectMax: m.ReconnectMax,
		MaxInflight: m.MaxInflight, CommitMaxRecords: a.cfg.Spool.CommitMaxRecords,
		Decoder:    intake.Decoder{MaxPayload: int(m.MaxPayload), MaxFuture: m.MaxFuture, Format: payloadFormat(m.PayloadFormat)},
		Ignore:     alarmTopicMatcher(a.cfg.Downsample),
		Logger:     a.log.With("component", "mqtt"),
		Registerer: a.reg}
	if m.TLS.Enabled || strings.HasPrefix(m.Broker, "ssl:") || strings.HasPrefix(m.Broker, "tls:") ||
		strings.HasPrefix(m.Broker, "mqtts:") || strings.HasPrefix(m.Broker, "wss:") {
		o.TLS, _ = tlsConfig(m.TLS) // validated by check-config; errors surface again at connect
	}
	return o
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

// tlsConfig builds a client TLS setup from the file section.
func tlsConfig(t config.TLS) (*tls.Config, error) {
	c := &tls.Config{ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls ca_file: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls ca_file %s: no PEM certificates", t.CAFile)
		}
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

func uplinkTLS(t config.TLS) uplink.TLSOptions {
	return uplink.TLSOptions{Enable: t.Enabled, CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile,
		ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
}
