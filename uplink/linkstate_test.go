package uplink

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestLinkStateLoggedOncePerChange(t *testing.T) {
	var logs bytes.Buffer
	clk := newFakeClock()
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	l := NewLink("kafka", LinkOptions{DownAfter: 10 * time.Second, Clock: clk, Metrics: m,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	state := func() float64 { return metricValue(t, m.linkState.WithLabelValues("kafka")) }

	l.success()
	if logs.Len() != 0 || l.Status().State != LinkUp || state() != 0 {
		t.Fatalf("success while up changed something: %q %+v", logs.String(), l.Status())
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
	out := logs.String()
	for _, want := range []string{
		"kafka link retrying: dial tcp: connection refused",
		"kafka link down: dial tcp: connection refused",
		"kafka link recovered after 12 failures and 3m24s",
	} {
		if strings.Count(out, want) != 1 {
			t.Errorf("log %q appears %d times in:\n%s", want, strings.Count(out, want), out)
		}
	}
	if strings.Count(out, "\n") != 3 {
		t.Errorf("want 3 log lines, got:\n%s", out)
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
