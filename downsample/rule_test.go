package downsample

import (
	"errors"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent/model"
)

func TestRules(t *testing.T) {
	rules := []Rule{
		{Field: FieldFuel, Op: OpLessEqual, Threshold: 0, Label: "empty"},
		{Field: FieldFuel, Op: OpLess, Threshold: 500, Label: "refuel"},
		{Field: FieldTemperature, Op: OpGreaterEqual, Threshold: 290, Label: "overheat"},
		{Field: FieldLoad, Op: OpEqual, Threshold: 0, Label: "idle"},
		{Field: FieldPower, Op: OpGreater, Threshold: 2500, Label: "overload"},
		{Field: FieldLat, Op: OpNotEqual, Threshold: 40.5, Label: "moved"},
	}
	base := model.Reading{Fuel: 800, Temperature: 200, Load: 50, Power: 1000, Lat: 40.5, Lon: -74}
	cases := []struct {
		name   string
		change func(*model.Reading)
		want   string
	}{
		{"none", func(*model.Reading) {}, "ok"},
		{"first match wins", func(r *model.Reading) { r.Fuel = 0; r.Temperature = 300 }, "empty"},
		{"negative", func(r *model.Reading) { r.Fuel = -20 }, "empty"},
		{"499", func(r *model.Reading) { r.Fuel = 499 }, "refuel"},
		{"500", func(r *model.Reading) { r.Fuel = 500 }, "ok"},
		{"290", func(r *model.Reading) { r.Temperature = 290 }, "overheat"},
		{"289", func(r *model.Reading) { r.Temperature = 289 }, "ok"},
		{"load 0", func(r *model.Reading) { r.Load = 0 }, "idle"},
		{"power 2500", func(r *model.Reading) { r.Power = 2500 }, "ok"},
		{"power 2501", func(r *model.Reading) { r.Power = 2501 }, "overload"},
		{"lat", func(r *model.Reading) { r.Lat = 40.50001 }, "moved"},
	}
	for _, c := range cases {
		r := base
		c.change(&r)
		if got := label(rules, "ok", r); got != c.want {
			t.Errorf("%s: label %q, want %q", c.name, got, c.want)
		}
	}
}

func TestParseRule(t *testing.T) {
	good := map[string]Rule{
		"fuel < 500 => refuel":            {FieldFuel, OpLess, 500, "refuel"},
		"  temperature >= 295.5 =>  hot ": {FieldTemperature, OpGreaterEqual, 295.5, "hot"},
		"lon != -74 => not at home base":  {FieldLon, OpNotEqual, -74, "not at home base"},
		"load == 0 => idle":               {FieldLoad, OpEqual, 0, "idle"},
	}
	for s, want := range good {
		got, err := ParseRule(s)
		if err != nil || got != want {
			t.Errorf("ParseRule(%q) = %+v, %v; want %+v", s, got, err, want)
		}
		if again, err := ParseRule(got.String()); err != nil || again != got {
			t.Errorf("ParseRule(String()) of %q = %+v, %v", s, again, err)
		}
	}
	for _, s := range []string{"", "fuel < 500", "fuel < 500 =>", "fuel <> 500 => x", "oil < 5 => x",
		"fuel < five => x", "fuel<500 => x", "fuel < 500 600 => x"} {
		if _, err := ParseRule(s); !errors.Is(err, ErrBadRule) {
			t.Errorf("ParseRule(%q): err = %v, want ErrBadRule", s, err)
		}
	}
}

func TestOptions(t *testing.T) {
	w, err := NewWindower(Options{})
	if err != nil {
		t.Fatal(err)
	}
	o := w.Options()
	if o.Window != time.Minute || o.Lateness != 5*time.Second || o.Region != "US" || o.DefaultLabel != "no action" ||
		len(o.Rules) != 1 || o.Rules[0].String() != "fuel < 500 => refuel" {
		t.Errorf("defaults: %+v", o)
	}
	bad := []Options{
		{Window: -time.Second},
		{Lateness: 100 * 365 * 24 * time.Hour},
		{Rules: []Rule{{Field: "fuel", Op: "<", Label: ""}}},
		{Rules: []Rule{{Field: "fuel", Op: "=<", Label: "x"}}},
	}
	for _, o := range bad {
		if _, err := NewWindower(o); err == nil {
			t.Errorf("NewWindower(%+v): no error", o)
		}
	}
}
