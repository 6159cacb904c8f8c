package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBrokerModeOffByDefault(t *testing.T) {
	cfg, err := Parse([]byte("spool: {path: /tmp/x.db}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Broker.Enabled() {
		t.Error("broker mode on without broker.listen")
	}
}

func TestBrokerAndSubscriptionExclude(t *testing.T) {
	_, err := Parse([]byte("mqtt: {broker: tcp://10.0.0.1:1883}\nbroker:\n  listen: [tcp://0.0.0.0:1883]\n  auth: {allow_anonymous: true}\n"))
	var fe *FieldError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), ErrBothModes.Error()) {
		t.Fatalf("got %v, want the exclusion error", err)
	}
}

func TestBrokerValidation(t *testing.T) {
	users := filepath.Join(t.TempDir(), "users.yaml")
	if err := os.WriteFile(users, []byte("users: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := "broker:\n  listen: [tcp://0.0.0.0:1883, ws://127.0.0.1:8080]\n  auth: {users_file: " + users + "}\n"
	cfg, err := Parse([]byte(ok))
	if err != nil {
		t.Fatalf("valid broker section: %v", err)
	}
	if !cfg.Broker.Enabled() || cfg.Broker.ReceiveMaximum != 1000 || cfg.Broker.MaxPacketSize != 64<<10 {
		t.Errorf("defaults not applied: %+v", cfg.Broker)
	}
	for field, doc := range map[string]string{
		"broker.auth":                    "broker:\n  listen: [tcp://0.0.0.0:1883]\n",
		"broker.listen[0]":               "broker:\n  listen: [udp://0.0.0.0:1883]\n  auth: {allow_anonymous: true}\n",
		"broker.tls":                     "broker:\n  listen: [tls://0.0.0.0:8883]\n  auth: {allow_anonymous: true}\n",
		"broker.receive_maximum":         "broker:\n  listen: [tcp://0.0.0.0:1883]\n  receive_maximum: 0\n  auth: {allow_anonymous: true}\n",
		"broker.auth.publish[0]":         "broker:\n  listen: [tcp://0.0.0.0:1883]\n  auth: {allow_anonymous: true, publish: ['a/#/b']}\n",
		"broker.auth.users_file":         "broker:\n  listen: [tcp://0.0.0.0:1883]\n  auth: {users_file: /nonexistent/users.yaml}\n",
		"broker.tls.require_client_cert": "broker:\n  listen: [tcp://0.0.0.0:1883]\n  tls: {require_client_cert: true}\n  auth: {allow_anonymous: true}\n",
	} {
		_, err := Parse([]byte(doc))
		if err == nil || !strings.Contains(err.Error(), field+":") && !strings.Contains(err.Error(), field+" (line") {
			t.Errorf("%s: got %v, want a problem with %s", field, err, field)
		}
	}
}
