package drill

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func mustExample(t *testing.T, name string) *Drill {
	t.Helper()
	src, err := Example(name)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Parse(src)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return d
}

func kinds(p Plan) map[Kind]int {
	out := map[Kind]int{}
	for _, s := range p.Steps[1:] {
		out[s.Fault.Kind]++
	}
	return out
}

func TestShippedDrillsParse(t *testing.T) {
	if got := Examples(); !reflect.DeepEqual(got, []string{"quick", "soak"}) {
		t.Fatalf("examples %v", got)
	}
	q := mustExample(t, "quick")
	if q.Duration != 2*time.Minute {
		t.Errorf("quick lasts %v", q.Duration)
	}
	want := map[Kind]int{KindCut: 1, KindAgentKill: 1, KindBrokerRestart: 1}
	if got := kinds(q.Plan()); !reflect.DeepEqual(got, want) {
		t.Errorf("quick faults %v, want %v", got, want)
	}
	s := mustExample(t, "soak")
	p := s.Plan()
	if s.Duration != time.Hour || len(p.Steps) < 6 || p.Seed == 0 {
		t.Errorf("soak: %v, %d steps, seed %d", s.Duration, len(p.Steps), p.Seed)
	}
	if len(kinds(p)) < 4 {
		t.Errorf("soak draws only %v", kinds(p))
	}
	for _, st := range p.Steps[1:] {
		if st.Recover > s.Random.End || st.Start < s.Random.Start {
			t.Errorf("soak fault %s at %v..%v outside %v..%v", st.Label, st.Start, st.Recover, s.Random.Start, s.Random.End)
		}
	}
}

// The same file and seed give the same schedule; another seed another.
func TestPlanReproducible(t *testing.T) {
	a, b := mustExample(t, "soak").Plan(), mustExample(t, "soak").Plan()
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same drill file, different plans")
	}
	d := mustExample(t, "soak")
	d.Random.Seed++
	if c := d.Plan(); reflect.DeepEqual(a.Steps, c.Steps) {
		t.Fatal("another seed gave the same plan")
	}
}

func TestPlanActions(t *testing.T) {
	d, err := Parse([]byte(`
duration: 100s
site: {broker: {url: tcp://b:1883}, agent: {url: http://a:9273}, sinks: {kafka: {brokers: [k:9092]}}}
timeline:
  - {at: 10s, fault: flap, link: both, for: 20s, down: 4s, up: 6s}
  - {at: 40s, fault: power-cut, for: 5s}
  - {at: 50s, fault: latency, link: influxdb, for: 10s, latency: 1s}
  - {at: 70s, fault: spool-pressure, for: 10s}
`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range d.Plan().Actions {
		got = append(got, strings.TrimSpace(a.At.String()+" "+a.Op+" "+a.Link))
	}
	want := []string{
		"10s cut kafka", "10s cut influxdb", "14s restore kafka", "14s restore influxdb",
		"20s cut kafka", "20s cut influxdb", "24s restore kafka", "24s restore influxdb",
		"40s agent-kill", "40s broker-kill", "45s broker-start", "45s agent-start",
		"50s latency influxdb", "1m0s clear influxdb", "1m10s spool-fill", "1m20s spool-release",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("actions\n got %q\nwant %q", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	base := "duration: 60s\nsite: {broker: {url: tcp://b:1883}, agent: {url: http://a:1}, sinks: {kafka: {brokers: [k:1]}}}\n"
	for name, doc := range map[string]string{
		"unknown key":     base + "bogus: 1\n",
		"unknown fault":   base + "timeline: [{at: 1s, fault: meteor}]\n",
		"after the end":   base + "timeline: [{at: 50s, fault: cut, for: 20s}]\n",
		"cut without for": base + "timeline: [{at: 5s, fault: cut}]\n",
		"bad link":        base + "timeline: [{at: 5s, fault: cut, link: mqtt, for: 1s}]\n",
		"no sinks":        "duration: 60s\nsite: {broker: {url: tcp://b:1883}, agent: {url: http://a:1}}\n",
		"no duration":     strings.Replace(base, "duration: 60s", "", 1),
		"bad random":      base + "random: {seed: 1, gap: [5s, 1s]}\n",
	} {
		if _, err := Parse([]byte(doc)); !errors.Is(err, ErrBadDrill) {
			t.Errorf("%s: err %v, want ErrBadDrill", name, err)
		}
	}
}

func TestScaleKeepsFaultKinds(t *testing.T) {
	d := mustExample(t, "quick")
	full := d.Plan()
	d.Scale(0.25)
	small := d.Plan()
	if d.Duration != 30*time.Second || !reflect.DeepEqual(kinds(full), kinds(small)) {
		t.Fatalf("scaled: %v, kinds %v", d.Duration, kinds(small))
	}
	for i, s := range small.Steps {
		if s.Start*4 != full.Steps[i].Start || s.Recover*4 != full.Steps[i].Recover {
			t.Errorf("step %d: %v..%v scaled from %v..%v", i, s.Start, s.Recover, full.Steps[i].Start, full.Steps[i].Recover)
		}
	}
}
