package agent

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/edgespool/edgespool/agent/broker"
	"github.com/edgespool/edgespool/agent/config"
	"github.com/edgespool/edgespool/agent/intake"
	"github.com/edgespool/edgespool/agent/logging/logtest"
	"github.com/edgespool/edgespool/uplink"
)

// startedAgent starts every part of an agent with both sinks and the
// downsample enabled; the broker and the sinks are unreachable, which
// changes no counter before the first retry. With brokerMode the agent
// runs its embedded broker instead (listening, no device connected).
func startedAgent(t *testing.T, brokerMode bool) *Agent {
	t.Helper()
	cfg := config.Default()
	cfg.MQTT.Broker = "tcp://127.0.0.1:1"
	if brokerMode {
		cfg.MQTT.Broker = ""
		cfg.Broker.Listen = []string{"tcp://127.0.0.1:0"}
		cfg.Broker.Auth.AllowAnonymous = true
	}
	cfg.Spool.Path = filepath.Join(t.TempDir(), "spool.db")
	cfg.Spool.NoSync = true
	cfg.HTTP.Listen = ""
	cfg.Kafka.Enabled, cfg.Kafka.Brokers = true, []string{"127.0.0.1:1"}
	cfg.InfluxDB.Enabled, cfg.InfluxDB.URL = true, "http://127.0.0.1:1"
	cfg.Downsample.Enabled = true
	log, _ := logtest.Logger(t)
	a := New(cfg, log)
	r := newRunner(context.Background(), log)
	if err := r.start(a.stages()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.stop() })
	return a
}

var descRE = regexp.MustCompile(`fqName: "([^"]+)".*variableLabels: \{([^}]*)\}`)

// declaredCounters returns the counter families the registry describes
// (by the _total convention) with their variable labels.
func declaredCounters(t *testing.T, a *Agent) map[string][]string {
	t.Helper()
	ch := make(chan *prometheus.Desc, 256)
	go func() { a.reg.Describe(ch); close(ch) }()
	out := map[string][]string{}
	for d := range ch {
		m := descRE.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("cannot read %s", d)
		}
		if strings.HasPrefix(m[1], "edgespool_") && strings.HasSuffix(m[1], "_total") {
			out[m[1]] = strings.FieldsFunc(m[2], func(r rune) bool { return r == ',' || r == ' ' })
		}
	}
	return out
}

func labelsOf(m *dto.Metric) map[string]string {
	l := map[string]string{}
	for _, p := range m.GetLabel() {
		l[p.GetName()] = p.GetValue()
	}
	return l
}

// TestFreshAgentExportsEveryCounterAtZero checks that every counter the
// agent declares has its series from the start, at 0: each label takes
// every value known at start (streams, consumers, sinks, rejection
// reasons, error classes, broker limits...), in every combination; in
// both modes.
func TestFreshAgentExportsEveryCounterAtZero(t *testing.T) {
	t.Run("subscribe", func(t *testing.T) { checkCountersAtZero(t, startedAgent(t, false)) })
	t.Run("broker", func(t *testing.T) {
		a := startedAgent(t, true)
		declared := checkCountersAtZero(t, a)
		for _, want := range []string{"edgespool_broker_limited_total", "edgespool_broker_publish_total",
			"edgespool_broker_users_reloads_total"} {
			if _, ok := declared[want]; !ok {
				t.Errorf("%s not declared in broker mode", want)
			}
		}
		checkLabelValues(t, a, "edgespool_broker_limited_total", "limit", broker.Limits)
		checkLabelValues(t, a, "edgespool_broker_publish_total", "qos", []string{"0", "1"})
		checkLabelValues(t, a, "edgespool_broker_users_reloads_total", "result", []string{"ok", "error"})
	})
}

// checkLabelValues checks that family has one series per value of label.
func checkLabelValues(t *testing.T, a *Agent, family, label string, want []string) {
	t.Helper()
	fams, err := a.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range fams {
		if f.GetName() == family {
			for _, m := range f.GetMetric() {
				got = append(got, labelsOf(m)[label])
			}
		}
	}
	slices.Sort(got)
	if want = slices.Sorted(slices.Values(want)); !slices.Equal(got, want) {
		t.Errorf("%s{%s}: %v, want %v", family, label, got, want)
	}
}

func checkCountersAtZero(t *testing.T, a *Agent) map[string][]string {
	t.Helper()
	declared := declaredCounters(t, a)
	fams, err := a.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		got[f.GetName()] = f
	}
	known := map[string][]string{"sink": a.enabledSinks(), "reason": nil}
	for name, labels := range declared {
		f := got[name]
		if f == nil {
			t.Errorf("%s%v: no series before its first event", name, labels)
			continue
		}
		seen := map[string]map[string]bool{}
		combos := map[string]bool{}
		for _, m := range f.GetMetric() {
			if v := m.GetCounter().GetValue(); v != 0 && len(labels) > 0 { // opening the spool commits
				t.Errorf("%s%v = %v on a fresh agent", name, labelsOf(m), v)
			}
			l := labelsOf(m)
			combos[fmt.Sprint(l)] = true
			for k, v := range l {
				if seen[k] == nil {
					seen[k] = map[string]bool{}
				}
				seen[k][v] = true
			}
		}
		for _, l := range labels {
			for _, v := range known[l] {
				if !seen[l][v] {
					t.Errorf("%s: no series with %s=%q", name, l, v)
				}
			}
		}
		if slices.Contains(labels, "consumer") {
			continue // consumers belong to one stream each: no cross product
		}
		if want := product(labels, seen); len(combos) != want {
			t.Errorf("%s: %d series, want every combination of %v (%d)", name, len(combos), seen, want)
		}
	}
	for _, want := range []string{"edgespool_intake_rejected_total", "edgespool_uplink_errors_total",
		"edgespool_spool_consumer_dropped_records_total", "edgespool_downsample_alarms_total"} {
		if _, ok := declared[want]; !ok {
			t.Errorf("%s not declared: the test reads the wrong names", want)
		}
	}
	checkReasons(t, got["edgespool_intake_rejected_total"])
	checkLinkStates(t, got["edgespool_uplink_link_state"], a.enabledSinks())
	return declared
}

func product(labels []string, seen map[string]map[string]bool) int {
	n := 1
	for _, l := range labels {
		n *= len(seen[l])
	}
	return n
}

func checkReasons(t *testing.T, f *dto.MetricFamily) {
	t.Helper()
	var got []string
	for _, m := range f.GetMetric() {
		got = append(got, labelsOf(m)["reason"])
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(intake.Reasons))
	if !slices.Equal(got, want) {
		t.Errorf("rejection reasons %v, want %v", got, want)
	}
}

// checkLinkStates checks one series per sink and state, 1 for "up" only.
func checkLinkStates(t *testing.T, f *dto.MetricFamily, sinks []string) {
	t.Helper()
	states := []string{uplink.LinkUp.String(), uplink.LinkRetrying.String(), uplink.LinkDown.String()}
	if n := len(f.GetMetric()); n != len(sinks)*len(states) {
		t.Errorf("%d link_state series, want %d", n, len(sinks)*len(states))
	}
	for _, m := range f.GetMetric() {
		l := labelsOf(m)
		want := 0.0
		if l["state"] == "up" {
			want = 1
		}
		if !slices.Contains(sinks, l["sink"]) || !slices.Contains(states, l["state"]) || m.GetGauge().GetValue() != want {
			t.Errorf("link_state%v = %v", l, m.GetGauge().GetValue())
		}
	}
}

func TestFreshAgentExportsBuildInfo(t *testing.T) {
	a := New(config.Default(), nil)
	fams, err := a.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == "edgespool_build_info" {
			if l := labelsOf(f.GetMetric()[0]); l["version"] == "" || l["revision"] == "" || l["goversion"] == "" {
				t.Fatalf("build info labels %v", l)
			}
			return
		}
	}
	t.Fatal("no edgespool_build_info")
}
