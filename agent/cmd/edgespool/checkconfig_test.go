package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckConfigCatchesWhatRunRejects: each file is valid YAML that run
// would reject; check-config must fail and name the YAML path.
func TestCheckConfigCatchesWhatRunRejects(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.txt")
	os.WriteFile(notPEM, []byte("not a certificate\n"), 0o644)
	blocker := filepath.Join(dir, "file")
	os.WriteFile(blocker, nil, 0o644)
	spool := "spool:\n  path: " + filepath.Join(dir, "spool", "spool.db") + "\n"
	cases := []struct{ name, yaml, want string }{
		{"ca not PEM", "mqtt:\n  broker: ssl://127.0.0.1:8883\n  tls:\n    ca_file: " + notPEM + "\n",
			"mqtt.tls.ca_file (line 4)"},
		{"ca missing", "mqtt:\n  tls:\n    enabled: true\n    ca_file: " + filepath.Join(dir, "nope.pem") + "\n",
			"mqtt.tls.ca_file (line 4)"},
		{"kafka ca not PEM", "kafka:\n  enabled: true\n  tls:\n    enabled: true\n    ca_file: " + notPEM + "\n",
			"kafka.tls.ca_file (line 5)"},
		{"listen port", "http:\n  listen: 127.0.0.1:99999\n", "http.listen (line 2)"},
		{"log dir missing", "log:\n  file: " + filepath.Join(dir, "nodir", "edgespool.log") + "\n", "log.file (line 2)"},
		{"spool dir uncreatable", "spool:\n  path: " + filepath.Join(blocker, "sub", "spool.db") + "\n", "spool.path (line 2)"},
		{"spool path a directory", "spool:\n  path: " + dir + "\n", "spool.path (line 2)"},
		{"typo", "mqtt:\n  max_inflght: 10\n", "mqtt.max_inflght (line 2): unknown key (did you mean max_inflight?)"},
		{"duration", "mqtt:\n  keepalive: 30\n", "mqtt.keepalive (line 2): 30 is not a duration"},
		{"size", "spool:\n  max_bytes: -5MiB\n", `spool.max_bytes (line 2): "-5MiB"`},
	}
	for _, c := range cases {
		f := filepath.Join(dir, "c.yaml")
		body := c.yaml
		if !strings.Contains(body, "spool:") {
			body += spool
		}
		os.WriteFile(f, []byte(body), 0o644)
		code, out, errOut := runCmd("check-config", "-config", f)
		if code != 1 || !strings.Contains(errOut, c.want) {
			t.Errorf("%s: exit %d, output %q %q; want %q", c.name, code, out, errOut, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "spool")); !os.IsNotExist(err) {
		t.Errorf("check-config created the spool directory: %v", err)
	}
}

func TestCheckConfigWarnsOutsideUnitPaths(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "c.yaml")
	os.WriteFile(f, []byte("spool:\n  path: "+dir+"/spool.db\nlog:\n  file: "+dir+"/e.log\n"), 0o644)
	code, out, errOut := runCmd("check-config", "-config", f)
	if code != 0 || !strings.Contains(out, ": ok") ||
		!strings.Contains(errOut, "warning: spool.path") || !strings.Contains(errOut, "warning: log.file") {
		t.Fatalf("exit %d, %q %q", code, out, errOut)
	}
	if _, err := os.Stat(dir + "/spool.db"); !os.IsNotExist(err) {
		t.Fatal("check-config created the spool file")
	}
	if _, err := os.Stat(dir + "/e.log"); !os.IsNotExist(err) {
		t.Fatal("check-config created the log file")
	}
}
