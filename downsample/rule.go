package downsample

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/edgespool/edgespool/agent/model"
)

// Field names a numeric field of a model.Reading that an alarm Rule tests.
type Field string

// The fields a Rule can test.
const (
	FieldFuel        Field = "fuel"
	FieldPower       Field = "power"
	FieldLoad        Field = "load"
	FieldTemperature Field = "temperature"
	FieldLat         Field = "lat"
	FieldLon         Field = "lon"
)

// Op is a comparison operator of a Rule.
type Op string

// The comparisons a Rule can make (field Op threshold).
const (
	OpLess         Op = "<"
	OpLessEqual    Op = "<="
	OpGreater      Op = ">"
	OpGreaterEqual Op = ">="
	OpEqual        Op = "=="
	OpNotEqual     Op = "!="
)

// ErrBadRule is wrapped by every rule validation and parsing error.
var ErrBadRule = errors.New("bad alarm rule")

// Rule labels a reading when `Field Op Threshold` holds, for example the
// reference rule {fuel < 500 → "refuel"}. Integer fields are compared
// exactly as long as the threshold is an integer below 2^53.
type Rule struct {
	Field     Field
	Op        Op
	Threshold float64
	Label     string
}

// Validate reports whether r names a known field and operator and a label.
func (r Rule) Validate() error {
	if _, ok := fieldValue(r.Field, model.Reading{}); !ok {
		return fmt.Errorf("%w: unknown field %q", ErrBadRule, r.Field)
	}
	if _, ok := compare(r.Op, 0, 0); !ok {
		return fmt.Errorf("%w: unknown comparison %q", ErrBadRule, r.Op)
	}
	if r.Label == "" {
		return fmt.Errorf("%w: empty label", ErrBadRule)
	}
	return nil
}

// Match reports whether the reading satisfies the rule.
func (r Rule) Match(x model.Reading) bool {
	v, _ := fieldValue(r.Field, x)
	ok, _ := compare(r.Op, v, r.Threshold)
	return ok
}

// String formats r in the syntax ParseRule reads.
func (r Rule) String() string {
	return fmt.Sprintf("%s %s %s => %s", r.Field, r.Op,
		strconv.FormatFloat(r.Threshold, 'g', -1, 64), r.Label)
}

// ParseRule parses "<field> <op> <threshold> => <label>", for example
// "fuel < 500 => refuel". The label may contain spaces.
func ParseRule(s string) (Rule, error) {
	cond, label, ok := strings.Cut(s, "=>")
	if !ok {
		return Rule{}, fmt.Errorf("%w: %q: missing \"=> label\"", ErrBadRule, s)
	}
	f := strings.Fields(cond)
	if len(f) != 3 {
		return Rule{}, fmt.Errorf("%w: %q: want \"field op threshold\"", ErrBadRule, s)
	}
	th, err := strconv.ParseFloat(f[2], 64)
	if err != nil {
		return Rule{}, fmt.Errorf("%w: %q: threshold: %v", ErrBadRule, s, err)
	}
	r := Rule{Field: Field(f[0]), Op: Op(f[1]), Threshold: th, Label: strings.TrimSpace(label)}
	return r, r.Validate()
}

// label returns the label of the first matching rule, else def.
func label(rules []Rule, def string, x model.Reading) string {
	for _, r := range rules {
		if r.Match(x) {
			return r.Label
		}
	}
	return def
}

func fieldValue(f Field, x model.Reading) (float64, bool) {
	switch f {
	case FieldFuel:
		return float64(x.Fuel), true
	case FieldPower:
		return float64(x.Power), true
	case FieldLoad:
		return float64(x.Load), true
	case FieldTemperature:
		return float64(x.Temperature), true
	case FieldLat:
		return x.Lat, true
	case FieldLon:
		return x.Lon, true
	}
	return 0, false
}

func compare(op Op, a, b float64) (result, ok bool) {
	switch op {
	case OpLess:
		return a < b, true
	case OpLessEqual:
		return a <= b, true
	case OpGreater:
		return a > b, true
	case OpGreaterEqual:
		return a >= b, true
	case OpEqual:
		return a == b, true
	case OpNotEqual:
		return a != b, true
	}
	return false, false
}
