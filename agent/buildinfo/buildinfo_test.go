package buildinfo

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestCollectorExportsBuildInfoAtOne(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(Collector())
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(fams) != 1 || fams[0].GetName() != "edgespool_build_info" || len(fams[0].GetMetric()) != 1 {
		t.Fatalf("families %v", fams)
	}
	m := fams[0].GetMetric()[0]
	labels := map[string]string{}
	for _, l := range m.GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	i := Get()
	want := map[string]string{"version": i.Version, "revision": i.Commit, "goversion": i.GoVersion}
	for k, v := range want {
		if labels[k] != v || v == "" {
			t.Errorf("label %s = %q, want %q", k, labels[k], v)
		}
	}
	if len(labels) != len(want) || m.GetGauge().GetValue() != 1 {
		t.Errorf("metric %v", m)
	}
}
