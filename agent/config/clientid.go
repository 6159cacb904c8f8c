package config

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// machineIDFiles are where systemd and D-Bus keep the machine id.
var machineIDFiles = []string{"/etc/machine-id", "/var/lib/dbus/machine-id"}

// clientIDFile is the name of the persisted fallback id, next to the spool.
const clientIDFile = "client-id"

// IDSource supplies what the default MQTT client id is derived from; tests
// replace its functions.
type IDSource struct {
	Hostname  func() (string, error)
	MachineID func() (string, error) // "" or an error: no machine id
	// StateDir holds the persisted fallback id when there is no machine id.
	StateDir string
}

// SystemIDSource reads the host name and the machine id of this host and
// keeps a fallback id next to the spool file at spoolPath.
func SystemIDSource(spoolPath string) IDSource {
	return IDSource{Hostname: os.Hostname, MachineID: readMachineID, StateDir: filepath.Dir(spoolPath)}
}

func readMachineID() (string, error) {
	var errs []error
	for _, f := range machineIDFiles {
		b, err := os.ReadFile(f)
		if id := strings.TrimSpace(string(b)); err == nil && id != "" {
			return id, nil
		}
		errs = append(errs, err)
	}
	return "", errors.Join(errs...)
}

// DefaultClientID is "edgespool-<hostname>-<8 hex digits>": stable across
// restarts of one gateway, as a persistent MQTT session needs, and
// distinct between gateways that share a host name (every Raspberry Pi is
// "raspberrypi"). The digits are a hash of the machine id (never the id
// itself, which must not leave the host); without a machine id they are a
// random id generated once and kept in StateDir/client-id.
func (s IDSource) DefaultClientID() (string, error) {
	host, err := s.Hostname()
	if err != nil || host == "" {
		host = "gateway"
	}
	suffix, err := s.suffix()
	if err != nil {
		return "", fmt.Errorf("mqtt.client_id: no machine id, and %w; set mqtt.client_id", err)
	}
	return "edgespool-" + host + "-" + suffix, nil
}

func (s IDSource) suffix() (string, error) {
	if id, err := s.MachineID(); err == nil && id != "" {
		// App-specific: the same machine id hashed by other software
		// does not give this value.
		sum := sha256.Sum256([]byte("edgespool mqtt client id\x00" + id))
		return hex.EncodeToString(sum[:4]), nil
	}
	path := filepath.Join(s.StateDir, clientIDFile)
	if b, err := os.ReadFile(path); err == nil {
		if id := strings.TrimSpace(string(b)); len(id) == 8 {
			return id, nil
		}
	}
	var r [4]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", err
	}
	id := hex.EncodeToString(r[:])
	if err := os.MkdirAll(s.StateDir, 0o750); err != nil {
		return "", fmt.Errorf("cannot keep a generated id: %w", err)
	}
	if err := os.WriteFile(path, []byte(id+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("cannot keep a generated id: %w", err)
	}
	return id, nil
}
