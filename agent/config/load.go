package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Load reads, decodes, expands and validates the file at path.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	cfg, err := Parse(data)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// Parse decodes data over the defaults, expands ${ENV} references in string
// values, fills derived defaults and validates the result.
func Parse(data []byte) (Config, error) {
	return parse(data, os.LookupEnv)
}

func parse(data []byte, lookup func(string) (string, bool)) (Config, error) {
	cfg := Default()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("decode: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return Config{}, errors.New("decode: more than one YAML document")
	}
	if err := expandStrings(reflect.ValueOf(&cfg).Elem(), "", lookup); err != nil {
		return Config{}, err
	}
	if cfg.MQTT.ClientID == "" {
		cfg.MQTT.ClientID = DefaultClientID()
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// expandStrings replaces ${NAME} and ${NAME:-default} in every string field;
// "$${" stands for a literal "${". An unset variable without a default is an
// error naming the field.
func expandStrings(v reflect.Value, path string, lookup func(string) (string, bool)) error {
	switch v.Kind() {
	case reflect.String:
		s, err := expand(v.String(), lookup)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		v.SetString(s)
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < v.NumField(); i++ {
			name := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
			if err := expandStrings(v.Field(i), join(path, name), lookup); err != nil {
				return err
			}
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			if err := expandStrings(v.Index(i), path+"["+strconv.Itoa(i)+"]", lookup); err != nil {
				return err
			}
		}
	}
	return nil
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// ErrUnsetEnv is wrapped when a ${NAME} reference names an unset variable.
var ErrUnsetEnv = errors.New("environment variable is not set")

func expand(s string, lookup func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		if i > 0 && s[i-1] == '$' { // "$${" is a literal "${"
			b.WriteString(s[:i-1] + "${")
			s = s[i+2:]
			continue
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return "", fmt.Errorf("unterminated ${ in %q", s)
		}
		val, err := lookupRef(s[i+2:i+j], lookup)
		if err != nil {
			return "", err
		}
		b.WriteString(s[:i] + val)
		s = s[i+j+1:]
	}
}

func lookupRef(ref string, lookup func(string) (string, bool)) (string, error) {
	name, def, hasDef := strings.Cut(ref, ":-")
	if name == "" {
		return "", errors.New("empty ${} reference")
	}
	if v, ok := lookup(name); ok && (v != "" || !hasDef) {
		return v, nil
	}
	if hasDef {
		return def, nil
	}
	return "", fmt.Errorf("%w: %s", ErrUnsetEnv, name)
}
