package uplink

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/edgespool/edgespool/agent/logging/logtest"
)

func TestLinkStateLoggedOncePerChange(t *testing.T) {
	clk := newFakeClock()
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	log, logs := logtest.Logger(t)
	l := NewLink("kafka", LinkOptions{DownAfter: 10 * time.Second, Clock: clk, Metrics: m, Logger: log})
	// state is the one state whose link_state series is 1; the others are 0.
	state := func() float64 {
		cur, ones := -1.0, 0
		for s := range LinkState(len(linkStateNames)) {
			if metricValue(t, m.linkState.WithLabelValues("kafka", s.String())) == 1 {
				cur, ones = float64(s), ones+1
			}
		}
		if ones != 1 {
			t.Fatalf("%d link_state series at 1", ones)
		}
		return cur
	}

	l.success()
	if len(logs.Records()) != 0 || l.Status().State != LinkUp || state() != 0 {
		t.Fatalf("success while up changed something: %v %+v", logs.Records(), l.Status())
	}
	boom := errors.New("dial tcp: connection refused")
	for i := 0; i < 12; i++ {
		l.failure(boom)
		clk.After(17 * time.Second)
		if i == 0 && (l.Status().State != LinkRetrying || state() != 1) {
			t.Fatalf("after first failure: %+v", l.Status())
		}
	}
	st := l.Status()
	if st.State != LinkDown || st.Failures != 12 || st.LastError != boom.Error() || state() != 2 {
		t.Fatalf("after 12 failures: %+v", st)
	}
	l.success()
	for _, want := range []struct{ msg, key, val string }{
		{"link retrying", "err", boom.Error()},
		{"link down", "err", boom.Error()},
		{"link recovered", "failing_for", "3m24s"},
	} {
		r := logs.Find(want.msg)
		if len(r) != 1 || r[0].Attrs["sink"].String() != "kafka" || r[0].Attrs[want.key].String() != want.val {
			t.Errorf("log %q: %v", want.msg, r)
		}
	}
	if n := len(logs.Records()); n != 3 {
		t.Errorf("want 3 log records, got %v", logs.Records())
	}
	if st := l.Status(); st.State != LinkUp || st.Failures != 0 || !st.FailingSince.IsZero() || st.LastError == "" || state() != 0 {
		t.Fatalf("after recovery: %+v", st)
	}
}

func TestLinkRejectionKeepsLinkUp(t *testing.T) {
	l := NewLink("influx", LinkOptions{Clock: newFakeClock()})
	l.failure(errors.New("timeout"))
	l.rejected(Permanent(errors.New("field type conflict")))
	if st := l.Status(); st.State != LinkUp || !strings.Contains(st.LastError, "field type conflict") {
		t.Fatalf("%+v", st)
	}
}

// metricValue returns the value of a gauge or counter.
func metricValue(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := c.Write(&d); err != nil {
		t.Fatal(err)
	}
	if d.Gauge != nil {
		return d.Gauge.GetValue()
	}
	return d.Counter.GetValue()
}

func TestLinkStateJSONRoundTrip(t *testing.T) {
	for _, want := range []LinkState{LinkUp, LinkRetrying, LinkDown} {
		b, err := json.Marshal(ForwarderStatus{Link: LinkStatus{State: want}})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `"state":"`+want.String()+`"`) {
			t.Fatalf("%v encoded as %s", want, b)
		}
		var got ForwarderStatus
		if err := json.Unmarshal(b, &got); err != nil || got.Link.State != want {
			t.Fatalf("%s decoded as %v, %v", b, got.Link.State, err)
		}
	}
	var s LinkState
	if err := json.Unmarshal([]byte(`"sideways"`), &s); err == nil {
		t.Fatal("unknown state decoded without error")
	}
}
