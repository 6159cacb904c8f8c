package tlsconf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDisabledGivesNil(t *testing.T) {
	c, err := Options{}.Config()
	if c != nil || err != nil {
		t.Fatalf("zero Options: got %v, %v; want nil, nil", c, err)
	}
}

func TestServerNameEnables(t *testing.T) {
	c, err := Options{ServerName: "broker.test"}.Config()
	if err != nil || c == nil || c.ServerName != "broker.test" {
		t.Fatalf("got %+v, %v", c, err)
	}
}

func TestCAFileErrors(t *testing.T) {
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(notPEM, []byte("mqtt:\n  broker: tcp://x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct{ file, want string }{
		"missing": {"/nonexistent/ca.pem", "no such file"},
		"not PEM": {notPEM, "no PEM certificate"},
	} {
		_, err := Options{CAFile: tc.file}.Config()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want it to contain %q", name, err, tc.want)
		}
	}
}
