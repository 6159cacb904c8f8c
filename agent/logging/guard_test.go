package logging

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// jsonKeys returns the top-level keys of one JSON object, in order, with
// repeats (encoding/json would keep only the last).
func jsonKeys(t *testing.T, line []byte) []string {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(line))
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not a JSON object: %s", line)
	}
	var keys []string
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := d.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// checkNoDuplicateKeys fails on any line of the JSON log at path that has
// a key twice, and returns the lines.
func checkNoDuplicateKeys(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		seen := map[string]bool{}
		for _, k := range jsonKeys(t, sc.Bytes()) {
			if seen[k] {
				t.Errorf("key %q twice in %s", k, sc.Bytes())
			}
			seen[k] = true
		}
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func TestJSONRecordsHaveEachKeyOnceAfterReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	l, err := New("json", "info", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	scoped := l.With("component", "mqtt", "level", "x")
	scoped.Info("before")
	for _, level := range []string{"debug", "warn", "info"} { // several SIGHUPs
		if err := l.Reload(level); err != nil {
			t.Fatal(err)
		}
	}
	scoped.Warn("after", "msg", "m", "time", 1, "source", "s")
	l.WithGroup("g").Warn("grouped", "level", "kept in its group")
	lines := checkNoDuplicateKeys(t, path)
	if len(lines) != 5 {
		t.Fatalf("%d lines: %v", len(lines), lines)
	}
	if got := fmt.Sprintf("%v %v", lines[0]["level"], lines[0]["attr.level"]); got != "INFO x" {
		t.Errorf("before: level and attribute %q", got)
	}
	// The reload to warn is not logged at info.
	if lines[2]["msg"] != "log file reopened and log level applied" || lines[2]["log_level"] != "INFO" {
		t.Errorf("reload record %v", lines[2])
	}
	if lines[3]["msg"] != "after" || lines[3]["attr.msg"] != "m" || lines[3]["attr.source"] != "s" {
		t.Errorf("after: %v", lines[3])
	}
	if g := lines[4]["g"].(map[string]any); g["level"] != "kept in its group" {
		t.Errorf("grouped: %v", lines[4])
	}
}
