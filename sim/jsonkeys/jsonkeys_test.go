package jsonkeys

import (
	"reflect"
	"slices"
	"testing"
	"time"
)

type inner struct {
	LastSeq uint64 `json:"last_seq"`
	Camel   int    `json:"camelKey,omitempty"`
}

type embedded struct {
	Flat string `json:"flat"`
}

type outer struct {
	embedded
	When    time.Time         `json:"when"`
	Items   []inner           `json:"items"`
	ByName  map[string]*inner `json:"by_name"`
	NoTag   int
	Skipped int `json:"-"`
	private int
}

func TestTypePaths(t *testing.T) {
	want := []string{"NoTag", "by_name", "by_name.*.camelKey", "by_name.*.last_seq",
		"flat", "items", "items.camelKey", "items.last_seq", "when"}
	if got := Type(reflect.TypeFor[outer]()); !slices.Equal(got, want) {
		t.Fatalf("paths %q, want %q", got, want)
	}
}

func TestNotSnake(t *testing.T) {
	want := []string{"NoTag", "by_name.*.camelKey", "items.camelKey"}
	if got := NotSnake(reflect.TypeFor[outer]()); !slices.Equal(got, want) {
		t.Fatalf("not snake_case: %q, want %q", got, want)
	}
	for key, ok := range map[string]bool{"a": true, "last_seq": true, "sha256": true, "lag_2": true,
		"lastSeq": false, "_a": false, "a__b": false, "a_": false, "2a": false, "": false, "no action": false} {
		if Snake(key) != ok {
			t.Errorf("Snake(%q) = %v", key, !ok)
		}
	}
}

func TestDocPaths(t *testing.T) {
	got, err := Doc([]byte(`{"a":{"b":[{"c":1},{"d":[{"e":2}]}]},"f":null}`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"a": true, "a.b": true, "a.b.c": true, "a.b.d": true, "a.b.d.e": true, "f": true}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("paths %v, want %v", got, want)
	}
	if _, err := Doc([]byte(`{"a":`)); err == nil {
		t.Fatal("truncated document: no error")
	}
}

func TestRequireSnakeFails(t *testing.T) {
	var rec recorder
	RequireSnake(&rec, outer{})
	if !rec.failed {
		t.Fatal("camelCase keys passed")
	}
	RequireSnake(t, inner{}.LastSeq)
}

type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Errorf(string, ...any) { r.failed = true }
