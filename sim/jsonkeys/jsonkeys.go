// Package jsonkeys lists the keys of JSON documents and of the JSON that
// Go types marshal to, for tests: that every key a tool writes is
// snake_case, and that a reader only reads keys its source really writes.
//
// A key path joins the object keys from the document's root with dots;
// array elements add no segment, so the paths of every element of an
// array merge ("spool.streams.last_seq").
package jsonkeys

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
)

var snake = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// Snake reports whether key is snake_case: lowercase words of letters and
// digits joined by single underscores, starting with a letter.
func Snake(key string) bool { return snake.MatchString(key) }

// Doc returns the key paths of a JSON document.
func Doc(b []byte) (map[string]bool, error) {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("jsonkeys: %w", err)
	}
	paths := map[string]bool{}
	walkDoc(v, "", paths)
	return paths, nil
}

func walkDoc(v any, prefix string, paths map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			p := join(prefix, k)
			paths[p] = true
			walkDoc(e, p, paths)
		}
	case []any:
		for _, e := range x {
			walkDoc(e, prefix, paths)
		}
	}
}

// MapKey is the segment Type puts for the keys of a map: they are data,
// not names.
const MapKey = "*"

// Type returns the key paths that values of t can marshal to with
// encoding/json: struct fields by their json tag (or Go name), embedded
// structs flattened, omitempty fields included. Types that marshal
// themselves (json.Marshaler, encoding.TextMarshaler, such as time.Time)
// are leaves.
func Type(t reflect.Type) []string {
	paths := map[string]bool{}
	walkType(t, "", paths, map[reflect.Type]bool{})
	out := make([]string, 0, len(paths))
	for p := range paths {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

var (
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

func walkType(t reflect.Type, prefix string, paths map[string]bool, seen map[reflect.Type]bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Implements(jsonMarshaler) || t.Implements(textMarshaler) ||
		reflect.PointerTo(t).Implements(jsonMarshaler) || reflect.PointerTo(t).Implements(textMarshaler) {
		return
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		walkType(t.Elem(), prefix, paths, seen)
	case reflect.Map:
		walkType(t.Elem(), join(prefix, MapKey), paths, seen)
	case reflect.Struct:
		if seen[t] { // a recursive type: its paths are already listed
			return
		}
		seen[t] = true
		defer delete(seen, t)
		walkFields(t, prefix, paths, seen)
	}
}

func walkFields(t reflect.Type, prefix string, paths map[string]bool, seen map[reflect.Type]bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" { // flattened into the parent
			walkType(f.Type, prefix, paths, seen)
			continue
		}
		if name == "" {
			name = f.Name
		}
		p := join(prefix, name)
		paths[p] = true
		walkType(f.Type, p, paths, seen)
	}
}

// NotSnake returns the paths of Type(t) whose last key is not snake_case.
func NotSnake(t reflect.Type) []string {
	var bad []string
	for _, p := range Type(t) {
		segs := strings.Split(p, ".")
		if last := segs[len(segs)-1]; last != MapKey && !Snake(last) {
			bad = append(bad, p)
		}
	}
	return bad
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// RequireSnake fails tb unless every key that values of v's type can
// marshal to is snake_case.
func RequireSnake(tb testing.TB, v any) {
	tb.Helper()
	if bad := NotSnake(reflect.TypeOf(v)); len(bad) > 0 {
		tb.Errorf("JSON keys of %T not in snake_case: %q", v, bad)
	}
}
