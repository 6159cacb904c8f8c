package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// renamedKeys maps keys of earlier versions to their current name, so that
// an old file gets a pointed message instead of a plain "unknown key".
var renamedKeys = map[string]string{
	"downsample.idle_close": "idle_grace",
}

var (
	durationType = reflect.TypeOf(time.Duration(0))
	byteSizeType = reflect.TypeOf(ByteSize(0))
)

// checker walks the YAML node tree along the Config type before decoding,
// so that each problem is reported with its YAML path and line instead of
// yaml.v3's Go type names. lines records the line of every path seen, for
// the messages of Validate.
type checker struct {
	p     problems
	lines map[string]int
}

func (c *checker) add(path string, line int, format string, a ...any) {
	c.p = append(c.p, &FieldError{Field: path, Line: line, Problem: fmt.Sprintf(format, a...)})
}

// node checks n against type t at path.
func (c *checker) node(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if path != "" {
		c.lines[path] = n.Line
	}
	switch {
	case t == durationType:
		c.duration(n, path)
	case t == byteSizeType:
		c.byteSize(n, path)
	case t.Kind() == reflect.Struct:
		c.mapping(n, t, path)
	case t.Kind() == reflect.Slice:
		c.sequence(n, t, path)
	default:
		c.scalar(n, t, path)
	}
}

func (c *checker) mapping(n *yaml.Node, t reflect.Type, path string) {
	if isNull(n) || !c.is(n, yaml.MappingNode, "a mapping of keys", path) {
		return
	}
	fields := yamlFields(t)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Value == "<<" { // merge key: the merged mapping belongs here
			c.node(v, t, path)
			continue
		}
		f, ok := fields[k.Value]
		if !ok {
			c.unknown(k, fields, join(path, k.Value))
			continue
		}
		c.node(v, f.Type, join(path, k.Value))
	}
}

// is reports whether n is of kind, else adds "want what".
func (c *checker) is(n *yaml.Node, kind yaml.Kind, what, path string) bool {
	if n.Kind == kind {
		return true
	}
	c.add(path, n.Line, "want %s, got %s", what, describe(n))
	return false
}

func (c *checker) unknown(k *yaml.Node, fields map[string]reflect.StructField, path string) {
	if to, ok := renamedKeys[path]; ok {
		c.add(path, k.Line, "unknown key (renamed to %s)", to)
		return
	}
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	if s := suggest(k.Value, names); s != "" {
		c.add(path, k.Line, "unknown key (did you mean %s?)", s)
		return
	}
	c.add(path, k.Line, "unknown key")
}

func (c *checker) sequence(n *yaml.Node, t reflect.Type, path string) {
	if isNull(n) || !c.is(n, yaml.SequenceNode, "a list", path) {
		return
	}
	for i, e := range n.Content {
		c.node(e, t.Elem(), path+"["+strconv.Itoa(i)+"]")
	}
}

func (c *checker) scalar(n *yaml.Node, t reflect.Type, path string) {
	if !c.is(n, yaml.ScalarNode, "a single value", path) {
		return
	}
	var err error
	switch t.Kind() {
	case reflect.Bool:
		err = n.Decode(new(bool))
	case reflect.Int, reflect.Int64:
		err = n.Decode(new(int64))
	case reflect.Float64:
		err = n.Decode(new(float64))
	case reflect.String:
		if n.Tag == "!!null" {
			err = fmt.Errorf("null")
		}
	}
	if err != nil {
		c.add(path, n.Line, "%s is not %s", describe(n), kindName(t.Kind()))
	}
}

func (c *checker) duration(n *yaml.Node, path string) {
	if !c.is(n, yaml.ScalarNode, "a duration (e.g. 30s)", path) {
		return
	}
	if _, err := time.ParseDuration(n.Value); err != nil {
		c.add(path, n.Line, "%s is not a duration (e.g. 30s, 500ms, 5m, 1h)", n.Value)
	}
}

func (c *checker) byteSize(n *yaml.Node, path string) {
	if !c.is(n, yaml.ScalarNode, "a size (e.g. 512MiB)", path) {
		return
	}
	if _, err := ParseByteSize(n.Value); err != nil {
		c.add(path, n.Line, "%v", err)
	}
}

// yamlFields maps the YAML names of t's fields to the fields.
func yamlFields(t reflect.Type) map[string]reflect.StructField {
	m := make(map[string]reflect.StructField, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if name != "" && name != "-" {
			m[name] = f
		}
	}
	return m
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	if isNull(n) {
		return "an empty value"
	}
	return strconv.Quote(n.Value)
}

func kindName(k reflect.Kind) string {
	switch k {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64:
		return "an integer"
	case reflect.Float64:
		return "a number"
	}
	return "a string"
}

// suggest returns the candidate closest to s by edit distance, if it is
// close enough to be a likely typo.
func suggest(s string, candidates []string) string {
	limit := min(len(s)/2, 3)
	best, bestD := "", limit+1
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestD || d == bestD && best != "" && c < best {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
