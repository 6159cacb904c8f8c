package config

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func hostIDs(host, machineID, dir string) IDSource {
	return IDSource{Hostname: func() (string, error) { return host, nil },
		MachineID: func() (string, error) {
			if machineID == "" {
				return "", os.ErrNotExist
			}
			return machineID, nil
		}, StateDir: dir}
}

func TestDefaultClientIDFromMachineID(t *testing.T) {
	const mid = "4f1e2d3c4b5a69788796a5b4c3d2e1f0"
	a, err := hostIDs("raspberrypi", mid, "").DefaultClientID()
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^edgespool-raspberrypi-[0-9a-f]{8}$`).MatchString(a) {
		t.Fatalf("client id %q", a)
	}
	if strings.Contains(a, mid[:8]) {
		t.Fatalf("client id %q shows the raw machine id", a)
	}
	again, _ := hostIDs("raspberrypi", mid, "").DefaultClientID()
	other, _ := hostIDs("raspberrypi", "0123456789abcdef0123456789abcdef", "").DefaultClientID()
	if again != a || other == a {
		t.Fatalf("same machine %q/%q, other machine %q", a, again, other)
	}
}

func TestDefaultClientIDFallbackIsPersisted(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	a, err := hostIDs("raspberrypi", "", dir).DefaultClientID()
	if err != nil {
		t.Fatal(err)
	}
	b, err := hostIDs("raspberrypi", "", dir).DefaultClientID()
	if err != nil || a != b {
		t.Fatalf("restart changed the id: %q -> %q (%v)", a, b, err)
	}
	c, _ := hostIDs("raspberrypi", "", t.TempDir()).DefaultClientID()
	if c == a {
		t.Fatalf("two gateways without machine id share %q", a)
	}
	if _, err := os.Stat(filepath.Join(dir, clientIDFile)); err != nil {
		t.Fatal(err)
	}
	blocked := filepath.Join(t.TempDir(), "file")
	os.WriteFile(blocked, nil, 0o644)
	_, err = hostIDs("h", "", filepath.Join(blocked, "sub")).DefaultClientID()
	if err == nil || !strings.Contains(err.Error(), "mqtt.client_id") {
		t.Fatalf("unpersistable fallback: %v", err)
	}
}

func TestParseDerivesClientIDNextToSpool(t *testing.T) {
	var dir string
	ids := func(spoolPath string) IDSource { dir = filepath.Dir(spoolPath); return fixedIDs(spoolPath) }
	cfg, err := parseWith([]byte("spool:\n  path: /x/y/spool.db\n"), noEnv, ids)
	if err != nil || dir != "/x/y" || !strings.HasPrefix(cfg.MQTT.ClientID, "edgespool-gw-") {
		t.Fatalf("%q %q %v", dir, cfg.MQTT.ClientID, err)
	}
	cfg, err = parseWith([]byte("mqtt:\n  client_id: mine\n"), noEnv,
		func(string) IDSource {
			return IDSource{MachineID: func() (string, error) { return "", errors.New("x") }}
		})
	if err != nil || cfg.MQTT.ClientID != "mine" {
		t.Fatalf("%q %v", cfg.MQTT.ClientID, err)
	}
}
