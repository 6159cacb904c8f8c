package config

import (
	"fmt"
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"tcp://user:secret@host:1883":      "tcp://user:xxxxx@host:1883",
		"http://admin:secret@influx:8086/": "http://admin:xxxxx@influx:8086/",
		"tcp://host:1883":                  "tcp://host:1883",
		"tcp://user@host:1883":             "tcp://user@host:1883",
		"tcp://user:secret@host:99x99":     "tcp://user:xxxxx@host:99x99", // url.Parse fails
		"user:secret@broker:9092":          "user:xxxxx@broker:9092",
		"ws://u:p%40ss@h/mqtt?x=a@b":       "ws://u:xxxxx@h/mqtt?x=a@b",
		"":                                 "",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("%q: got %q want %q", in, got, want)
		}
	}
}

func TestRedactedHidesEverySecret(t *testing.T) {
	c := Default()
	c.MQTT.Broker, c.MQTT.Password = "tcp://u:secret1@h:1883", "secret2"
	c.Kafka.Brokers, c.Kafka.SASL.Password = []string{"k:secret3@h:9092"}, "secret4"
	c.InfluxDB.URL, c.InfluxDB.Token = "http://u:secret5@h:8086", "secret6"
	r := c.Redacted()
	if s := fmt.Sprintf("%+v", r); strings.Contains(s, "secret") {
		t.Fatalf("redacted config shows a secret: %s", s)
	}
	if c.Kafka.Brokers[0] != "k:secret3@h:9092" || c.MQTT.Password != "secret2" {
		t.Fatal("Redacted changed the original")
	}
}
