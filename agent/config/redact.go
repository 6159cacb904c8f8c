package config

import (
	"net/url"
	"strings"
)

// Redaction replaces a secret wherever a value is shown.
const Redaction = "xxxxx"

// RedactURL returns s with the password of its userinfo replaced by
// "xxxxx" (tcp://user:secret@host:1883 → tcp://user:xxxxx@host:1883). It
// also redacts strings url.Parse rejects, so that a malformed URL in an
// error message cannot show its password either.
func RedactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		return u.Redacted()
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		scheme, rest = "", s
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndex(rest[:end], "@")
	if at < 0 {
		return s
	}
	user, _, hasPass := strings.Cut(rest[:at], ":")
	if !hasPass {
		return s
	}
	if ok {
		scheme += "://"
	}
	return scheme + user + ":" + Redaction + rest[at:]
}

// Redacted returns a copy of c fit to show: passwords and tokens replaced
// by "xxxxx" and the userinfo passwords of URLs redacted.
func (c Config) Redacted() Config {
	c.MQTT.Broker = RedactURL(c.MQTT.Broker)
	c.MQTT.Password = redactSecret(c.MQTT.Password)
	c.Kafka.Brokers = append([]string(nil), c.Kafka.Brokers...)
	for i, b := range c.Kafka.Brokers {
		c.Kafka.Brokers[i] = RedactURL(b)
	}
	c.Kafka.SASL.Password = redactSecret(c.Kafka.SASL.Password)
	c.InfluxDB.URL = RedactURL(c.InfluxDB.URL)
	c.InfluxDB.Token = redactSecret(c.InfluxDB.Token)
	return c
}

func redactSecret(s string) string {
	if s == "" {
		return ""
	}
	return Redaction
}
