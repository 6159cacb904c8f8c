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
		return Config{}, &FileError{Path: path, Err: err}
	}
	return cfg, nil
}

// FileError is a problem of the file at Path: one error, or several joined
// (each a *FieldError when it concerns a key).
type FileError struct {
	Path string
	Err  error
}

func (e *FileError) Unwrap() error { return e.Err }

// Error puts each problem on a line of its own.
func (e *FileError) Error() string {
	msg := e.Err.Error()
	if !strings.Contains(msg, "\n") {
		return e.Path + ": " + msg
	}
	return e.Path + ":\n  " + strings.ReplaceAll(msg, "\n", "\n  ")
}

// CheckFile returns err, found by checking the configuration loaded from
// path, as a *FileError whose FieldErrors carry the line of their key.
func CheckFile(path string, err error) error {
	if err == nil {
		return nil
	}
	if data, rerr := os.ReadFile(path); rerr == nil {
		if root, derr := decodeNode(data); derr == nil && root != nil {
			c := checker{lines: map[string]int{}}
			c.node(root, reflect.TypeOf(Config{}), "")
			err = withLines(err, c.lines)
		}
	}
	return &FileError{Path: path, Err: err}
}

// Parse decodes data over the defaults, expands ${ENV} references in string
// values, fills derived defaults and validates the result.
func Parse(data []byte) (Config, error) {
	return parse(data, os.LookupEnv)
}

func parse(data []byte, lookup func(string) (string, bool)) (Config, error) {
	return parseWith(data, lookup, SystemIDSource)
}

func parseWith(data []byte, lookup func(string) (string, bool), ids func(spoolPath string) IDSource) (Config, error) {
	cfg := Default()
	root, err := decodeNode(data)
	if err != nil {
		return Config{}, err
	}
	c := checker{lines: map[string]int{}}
	if root != nil {
		c.node(root, reflect.TypeOf(cfg), "")
		if len(c.p) > 0 {
			return Config{}, errors.Join(c.p...)
		}
		if err := root.Decode(&cfg); err != nil {
			return Config{}, fmt.Errorf("decode: %w", err)
		}
	}
	if err := expandStrings(reflect.ValueOf(&cfg).Elem(), "", lookup); err != nil {
		return Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, withLines(err, c.lines)
	}
	if cfg.MQTT.ClientID == "" {
		if cfg.MQTT.ClientID, err = ids(cfg.Spool.Path).DefaultClientID(); err != nil {
			return Config{}, err
		}
	}
	return cfg, nil
}

// decodeNode parses data as one YAML document; nil for an empty file.
func decodeNode(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, fmt.Errorf("decode: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("decode: more than one YAML document")
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

// withLines adds the line of each field named by a FieldError of err that
// the file set.
func withLines(err error, lines map[string]int) error {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	for _, e := range errs {
		var fe *FieldError
		if errors.As(e, &fe) && fe.Line == 0 {
			fe.Line = lines[fe.Field]
		}
	}
	return err
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
			return "", errors.New("unterminated ${ (write $${ for a literal ${)")
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
