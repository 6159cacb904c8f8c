package config

import (
	"strings"
	"testing"
)

// TestBrokenFilesNameYAMLPath: each broken file must fail with the YAML
// path, the line and the problem in the message, never a Go type name.
func TestBrokenFilesNameYAMLPath(t *testing.T) {
	cases := []struct{ yaml, want string }{
		{"mqtt:\n  max_inflght: 5\n", "mqtt.max_inflght (line 2): unknown key (did you mean max_inflight?)"},
		{"mqtt:\n  keepalive: 30\n", "mqtt.keepalive (line 2): 30 is not a duration (e.g. 30s"},
		{"spool:\n  max_bytes: -5MiB\n", `spool.max_bytes (line 2): "-5MiB" is not a size`},
		{"mqtt:\n  max_inflight: lots\n", `mqtt.max_inflight (line 2): "lots" is not an integer`},
		{"mqtt:\n  topics: emergency_generator/+\n", "mqtt.topics (line 2): want a list"},
		{"kafka:\n  brokers: [a:1, {b: 1}]\n", "kafka.brokers[1] (line 2): want a single value"},
		{"kafka:\n  enabled: yes please\n", `kafka.enabled (line 2): "yes please" is not true or false`},
		{"downsample:\n  idle_close: 2m\n", "downsample.idle_close (line 2): unknown key (renamed to idle_grace)"},
		{"downsample:\n  alarm:\n    threshold: low\n", `downsample.alarm.threshold (line 3): "low" is not a number`},
		{"logs:\n  level: info\n", "logs (line 1): unknown key (did you mean log?)"},
		{"mqtt: tcp://x:1\n", `mqtt (line 1): want a mapping of keys, got "tcp://x:1"`},
		{"mqtt:\n  zzz: 1\n", "mqtt.zzz (line 2): unknown key\n"},
		{"\nmqtt:\n  qos: 0\n", "mqtt.qos (line 3): must be 1"},
		{"http:\n  listen: 127.0.0.1:99999\n", "http.listen (line 2): port 99999"},
		{"uplink:\n  backoff_min: 1s\n  backoff_max: 10ms\n", "uplink.backoff_max (line 3): must be at least 1s"},
	}
	for _, c := range cases {
		_, err := parseWith([]byte(c.yaml), noEnv, fixedIDs)
		if err == nil {
			t.Errorf("%q accepted", c.yaml)
			continue
		}
		msg := err.Error() + "\n"
		if !strings.Contains(msg, c.want) {
			t.Errorf("%q:\n got  %s want %s", c.yaml, msg, c.want)
		}
		for _, goName := range []string{"config.", "time.Duration", "!!int", "!!str", "unmarshal"} {
			if strings.Contains(msg, goName) {
				t.Errorf("%q: message names Go internals: %s", c.yaml, msg)
			}
		}
	}
}

func TestSeveralProblemsAreAllReported(t *testing.T) {
	_, err := parseWith([]byte("mqtt:\n  keepalive: 30\n  brokr: x\nspool:\n  max_bytes: lots\n"), noEnv, fixedIDs)
	if err == nil || strings.Count(err.Error(), "\n") != 2 {
		t.Fatalf("want three problems, got %v", err)
	}
}

func TestAnchorsAndMergeKeys(t *testing.T) {
	cfg, err := parseWith([]byte("x: &tls\n  enabled: false\n"), noEnv, fixedIDs)
	if err == nil {
		t.Fatalf("unknown top-level key accepted: %+v", cfg)
	}
	cfg, err = parseWith([]byte("mqtt:\n  tls: &t\n    server_name: a\nkafka:\n  tls:\n    <<: *t\n    insecure_skip_verify: false\n"),
		noEnv, fixedIDs)
	if err != nil || cfg.Kafka.TLS.ServerName != "a" {
		t.Fatalf("%v %+v", err, cfg.Kafka.TLS)
	}
}

func TestSuggest(t *testing.T) {
	names := []string{"max_inflight", "max_payload", "max_future", "keepalive", "broker"}
	for in, want := range map[string]string{"max_inflght": "max_inflight", "keep_alive": "keepalive",
		"borker": "broker", "password2": "", "x": ""} {
		if got := suggest(in, names); got != want {
			t.Errorf("%s: got %q want %q", in, got, want)
		}
	}
}
