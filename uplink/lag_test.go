package uplink

import (
	"errors"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent/clock"
	"github.com/edgespool/edgespool/agent/model"

	"github.com/prometheus/client_golang/prometheus"
)

// gaugeValue returns the value of an uplink gauge for (sink, stream) from reg.
func gaugeValue(t *testing.T, reg *prometheus.Registry, name, sink, stream string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			if got["sink"] == sink && got["stream"] == stream {
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no %s{sink=%q,stream=%q}", name, sink, stream)
	return 0
}

// While the sink is unreachable the forwarder sits in a long backoff; the
// lag it reports (Status and the metrics a scrape sees) must still follow
// the spool as readings keep arriving.
func TestForwarderLagGrowsWhileLinkDown(t *testing.T) {
	l := newMemLog()
	appendRecs(t, l, rawRecords(100, 4))
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	down := &memSink{name: "mem", fail: func([]Message) error { return Retryable(errors.New("connection refused")) }}
	head := func(s string) uint64 { return uint64(len(l.records(s))) }
	f := newFwd(t, l, down, ForwarderOptions{Head: head, Metrics: m, Clock: clock.Real{},
		Backoff: BackoffOptions{Min: time.Hour, Max: time.Hour}}) // one failure, then a long wait
	stop := start(t, f)
	waitFor(t, "first failure", func() bool { return f.Status().Link.State != LinkUp })

	appendRecs(t, l, rawRecords(50, 4)) // arrive during the outage
	before := time.Now()
	st := f.Status()
	after := time.Now()
	if st.Cursor != 0 || st.LagRecords != 150 {
		t.Fatalf("during outage: cursor %d lag %d records, want 0 and 150", st.Cursor, st.LagRecords)
	}
	oldest := time.Unix(0, l.records(model.StreamRaw)[0].Time)
	if lo, hi := before.Sub(oldest).Seconds(), after.Sub(oldest).Seconds(); st.LagSeconds < lo || st.LagSeconds > hi {
		t.Fatalf("lag %.1fs, want the age of the oldest unsent record (%.1f..%.1f)", st.LagSeconds, lo, hi)
	}

	appendRecs(t, l, rawRecords(25, 4)) // a scrape alone must see them
	if g := gaugeValue(t, reg, "edgespool_uplink_lag_records", "mem", "raw"); g != 175 {
		t.Fatalf("lag_records gauge %v during outage, want 175", g)
	}
	if g := gaugeValue(t, reg, "edgespool_uplink_lag_seconds", "mem", "raw"); g < before.Sub(oldest).Seconds() {
		t.Fatalf("lag_seconds gauge %v during outage, want >= %v", g, before.Sub(oldest).Seconds())
	}
	stop()

	// The link is back: once drained, both fall to 0.
	f2 := newFwd(t, l, &memSink{name: "mem"}, ForwarderOptions{Head: head, Metrics: m, Clock: clock.Real{}})
	start(t, f2)
	waitFor(t, "drain", func() bool { return l.cursor("mem/raw", "raw") == 175 })
	if st := f2.Status(); st.LagRecords != 0 || st.LagSeconds != 0 {
		t.Fatalf("after drain: lag %d records %.1fs, want 0", st.LagRecords, st.LagSeconds)
	}
	if g := gaugeValue(t, reg, "edgespool_uplink_lag_records", "mem", "raw"); g != 0 {
		t.Fatalf("lag_records gauge %v after drain, want 0", g)
	}
}

// Without Head the record lag is unknown, but the age of the oldest unsent
// record is still read from the log.
func TestForwarderLagSecondsWithoutHead(t *testing.T) {
	l := newMemLog()
	appendRecs(t, l, rawRecords(10, 1))
	down := &memSink{name: "mem", fail: func([]Message) error { return Retryable(errors.New("timeout")) }}
	f := newFwd(t, l, down, ForwarderOptions{Clock: clock.Real{}, Backoff: BackoffOptions{Min: time.Hour, Max: time.Hour}})
	if st := f.Status(); st.LagRecords != 0 || st.LagSeconds <= 0 { // before Run: from the durable cursor
		t.Fatalf("before run: %+v", st)
	}
	start(t, f)
	waitFor(t, "first failure", func() bool { return f.Status().Link.State != LinkUp })
	if st := f.Status(); st.LagRecords != 0 || st.LagSeconds < time.Since(t0).Seconds()-60 {
		t.Fatalf("during outage: %+v", st)
	}
}
