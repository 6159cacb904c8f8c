package config

import (
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestReferenceTableMatchesDefaults: README.md lists every key of the file
// once, with the default Default() has.
func TestReferenceTableMatchesDefaults(t *testing.T) {
	doc, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]string{}
	for _, line := range strings.Split(string(doc), "\n") {
		cells := strings.Split(line, " | ")
		if len(cells) < 3 || !strings.HasPrefix(cells[0], "| `") {
			continue
		}
		key := strings.Trim(strings.TrimPrefix(cells[0], "| "), "`")
		documented[key] = strings.Trim(cells[1], "`")
	}
	defaults := map[string]string{}
	flatten(reflect.ValueOf(Default()), "", defaults)
	for key, want := range defaults {
		got, ok := documented[key]
		switch {
		case !ok:
			t.Errorf("%s is not in README.md", key)
		case key == "mqtt.client_id":
		case got != want:
			t.Errorf("%s: README.md says %q, Default() is %q", key, got, want)
		}
	}
	for key := range documented {
		if _, ok := defaults[key]; !ok {
			t.Errorf("README.md documents %s, which the file does not have", key)
		}
	}
}

// flatten renders each leaf of v as the reference table writes it.
func flatten(v reflect.Value, path string, out map[string]string) {
	if v.Kind() == reflect.Struct {
		for name, f := range yamlFields(v.Type()) {
			flatten(v.FieldByIndex(f.Index), join(path, name), out)
		}
		return
	}
	out[path] = render(v)
}

func render(v reflect.Value) string {
	switch x := v.Interface().(type) {
	case time.Duration:
		return shortDuration(x)
	case ByteSize:
		return x.String()
	case string:
		if x == "" {
			return "empty"
		}
		return x
	case []string:
		return "[" + strings.Join(x, ", ") + "]"
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	switch v.Kind() {
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	}
	return v.String()
}

// shortDuration writes d in the largest whole unit: 30s, 1m, 24h, 100ms.
func shortDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}} {
		if d%u.unit == 0 {
			return strconv.FormatInt(int64(d/u.unit), 10) + u.name
		}
	}
	return d.String()
}
