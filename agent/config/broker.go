package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
)

// Broker is the embedded MQTT broker: with at least one listen URL the
// agent serves MQTT to the site's devices itself and acknowledges each QoS 1
// PUBLISH only once its reading is in the spool (fsync done). It excludes
// the mqtt subscription: the two modes cannot run together.
type Broker struct {
	// Listen holds listener URLs: tcp://host:port (also mqtt://), tls://
	// (also ssl://, mqtts://), ws:// and wss://. Empty: broker mode off.
	Listen []string   `yaml:"listen"`
	TLS    BrokerTLS  `yaml:"tls"`
	Auth   BrokerAuth `yaml:"auth"`

	MaxConnections int      `yaml:"max_connections"`
	MaxPacketSize  ByteSize `yaml:"max_packet_size"`
	// ReceiveMaximum is the in-flight window of each connection: messages
	// received but not yet committed and acknowledged. A connection that
	// fills it is not read until commits free it.
	ReceiveMaximum int `yaml:"receive_maximum"`
	// MaxRate caps the messages a second one connection may publish (0: no
	// cap); RateBurst is the burst above it. Beyond it the connection is
	// read more slowly.
	MaxRate   float64 `yaml:"max_rate"`
	RateBurst int     `yaml:"rate_burst"`
	// RetainedFile keeps retained messages (the alarms) across restarts;
	// default: the spool path + ".retained".
	RetainedFile string `yaml:"retained_file"`
	// Forward passes every committed reading on to local subscribers.
	Forward bool `yaml:"forward"`
}

// BrokerTLS is the server side of TLS, for tls:// and wss:// listeners.
type BrokerTLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile verifies client certificates; with RequireClientCert a
	// client without a valid certificate is refused.
	ClientCAFile      string `yaml:"client_ca_file"`
	RequireClientCert bool   `yaml:"require_client_cert"`
}

// BrokerAuth is who may connect and what each may publish and subscribe.
type BrokerAuth struct {
	// UsersFile lists users with bcrypt-hashed passwords and optional
	// per-user topic rules; it is re-read when it changes and on SIGHUP.
	UsersFile      string `yaml:"users_file"`
	AllowAnonymous bool   `yaml:"allow_anonymous"`
	// Publish and Subscribe are the topic filters of users without rules of
	// their own, and of anonymous clients; {username} stands for the user.
	Publish   []string `yaml:"publish"`
	Subscribe []string `yaml:"subscribe"`
}

// Enabled reports whether broker mode is on.
func (b *Broker) Enabled() bool { return len(b.Listen) > 0 }

// DefaultBroker is the broker section's defaults (broker mode off).
func DefaultBroker() Broker {
	return Broker{MaxConnections: 1000, MaxPacketSize: 64 << 10, ReceiveMaximum: 1000, RateBurst: 1000,
		Forward: true, Auth: BrokerAuth{Publish: []string{"emergency_generator/+"},
			Subscribe: []string{"emergency_generator/#"}}}
}

// ListenerSchemes maps each listen URL scheme to its kind: tcp, tls or ws, wss.
var ListenerSchemes = map[string]string{"tcp": "tcp", "mqtt": "tcp", "tls": "tls", "ssl": "tls",
	"mqtts": "tls", "ws": "ws", "wss": "wss"}

// ErrBothModes is the problem of a file that configures the mqtt
// subscription and the embedded broker.
var ErrBothModes = errors.New("the embedded broker (broker.listen) and the mqtt subscription exclude each other: " +
	"remove mqtt.broker, username, password, topics and tls, or broker.listen")

// validateBroker checks the broker section, and that it is not combined
// with the mqtt subscription.
func (c *Config) validateBroker(p *problems) {
	b := &c.Broker
	if !b.Enabled() {
		return
	}
	def := Default().MQTT
	m := c.MQTT
	if m.Broker != def.Broker || m.Username != "" || m.Password != "" || !slices.Equal(m.Topics, def.Topics) || m.TLS.Enabled {
		p.add("broker.listen", "%v", ErrBothModes)
	}
	tls := false
	for i, l := range b.Listen {
		kind, err := ParseListen(l)
		if err != nil {
			p.add(fmt.Sprintf("broker.listen[%d]", i), "%v", err)
		}
		tls = tls || kind == "tls" || kind == "wss"
	}
	b.TLS.validate(p, tls)
	b.Auth.validate(p)
	checkRange(p, "broker.max_connections", int64(b.MaxConnections), 1, 1000000)
	checkRange(p, "broker.max_packet_size", int64(b.MaxPacketSize), 256, 256<<20)
	checkRange(p, "broker.receive_maximum", int64(b.ReceiveMaximum), 1, 65535)
	if b.MaxRate < 0 {
		p.add("broker.max_rate", "must not be negative (0 means no cap), got %v", b.MaxRate)
	}
	checkRange(p, "broker.rate_burst", int64(b.RateBurst), 1, 1000000)
}

// ParseListen checks one listen URL and returns its kind (tcp, tls, ws, wss).
func ParseListen(l string) (kind string, err error) {
	u, err := url.Parse(l)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("want a URL such as tcp://0.0.0.0:1883, got %q", l)
	}
	kind, ok := ListenerSchemes[u.Scheme]
	if !ok {
		return "", fmt.Errorf("unsupported scheme %q (tcp, mqtt, tls, ssl, mqtts, ws, wss)", u.Scheme)
	}
	if _, _, err := net.SplitHostPort(u.Host); err != nil {
		return "", fmt.Errorf("want host:port in %q", l)
	}
	return kind, nil
}

func (t *BrokerTLS) validate(p *problems, needed bool) {
	if needed && (t.CertFile == "" || t.KeyFile == "") {
		p.add("broker.tls", "tls:// and wss:// listeners need cert_file and key_file")
	}
	if t.RequireClientCert && t.ClientCAFile == "" {
		p.add("broker.tls.require_client_cert", "needs client_ca_file")
	}
	checkReadable(p, "broker.tls.cert_file", t.CertFile)
	checkReadable(p, "broker.tls.key_file", t.KeyFile)
	checkReadable(p, "broker.tls.client_ca_file", t.ClientCAFile)
}

func (a *BrokerAuth) validate(p *problems) {
	if a.UsersFile == "" && !a.AllowAnonymous {
		p.add("broker.auth", "needs users_file, or allow_anonymous: true to let any client in")
	}
	checkReadable(p, "broker.auth.users_file", a.UsersFile)
	for field, filters := range map[string][]string{"publish": a.Publish, "subscribe": a.Subscribe} {
		for i, f := range filters {
			if err := checkTopicFilter(strings.ReplaceAll(f, "{username}", "u")); err != nil {
				p.add(fmt.Sprintf("broker.auth.%s[%d]", field, i), "%v", err)
			}
		}
	}
}

func checkReadable(p *problems, field, path string) {
	if path == "" {
		return
	}
	if _, err := os.Stat(path); err != nil {
		p.add(field, "cannot read %s: %v", path, errors.Unwrap(err))
	}
}
