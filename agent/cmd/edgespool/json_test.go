package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent/model"
	"github.com/edgespool/edgespool/spool"
)

var snakeKey = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// walkKeys reports every object key of a decoded JSON value that is not
// snake_case, and returns how many keys it saw.
func walkKeys(t *testing.T, path string, v any) int {
	t.Helper()
	n := 0
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			n++
			if !snakeKey.MatchString(k) {
				t.Errorf("%s.%s: key not snake_case", path, k)
			}
			n += walkKeys(t, path+"."+k, e)
		}
	case []any:
		for i, e := range v {
			n += walkKeys(t, fmt.Sprintf("%s[%d]", path, i), e)
		}
	}
	return n
}

// TestJSONOutputsAreSnakeCase walks the keys of `version -json` and
// `spool stat -json` on a spool with records and a cursor (/status is
// walked by the agent package's tests).
func TestJSONOutputsAreSnakeCase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	s, err := spool.Open(path, spool.Options{Consumers: map[string][]string{model.StreamRaw: {"kafka/raw"}}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixNano()
	recs := []spool.Record{{Stream: model.StreamRaw, Key: "g1", Time: now, Value: []byte("a")},
		{Stream: model.StreamRaw, Key: "g1", Time: now, Value: []byte("b")}}
	if err := s.Append(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	if err := s.Ack("kafka/raw", model.StreamRaw, 1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, args := range [][]string{{"version", "-json"}, {"spool", "stat", "-json", "-spool", path}} {
		code, out, errOut := runCmd(args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		var doc any
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if n := walkKeys(t, args[0], doc); n < 5 {
			t.Errorf("%v: only %d keys walked", args, n)
		}
	}
}
