package intake

import (
	"fmt"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent/clock"
	"github.com/edgespool/edgespool/agent/logging/logtest"
)

// newFakeClock is an injected Options.Clock that moves only when told.
func newFakeClock() *clock.Fake {
	return clock.NewFake(time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC))
}

// offlineIntake is an intake that never connects, for the commit path.
func offlineIntake(t *testing.T, clk *clock.Fake) (*Intake, *logtest.Handler) {
	t.Helper()
	log, h := logtest.Logger(t)
	in, err := New(&memSpool{}, Options{Broker: "tcp://127.0.0.1:1", Logger: log, Clock: clk,
		Decoder: Decoder{MaxPayload: 256}})
	if err != nil {
		t.Fatal(err)
	}
	return in, h
}

// commitPayloads runs payloads through prepare and ack as one commit.
func commitPayloads(t *testing.T, in *Intake, payloads ...string) {
	t.Helper()
	batch := make([]item, len(payloads))
	for i, p := range payloads {
		if !in.acquire() {
			t.Fatal("no slot")
		}
		batch[i] = in.prepare(&message{qos: 1, id: uint16(i + 1), payload: []byte(p)}, in.opts.Clock.Now())
	}
	in.ack(batch, len(batch))
}

func TestRejectedPayloadsLogDebugAndARateLimitedSummary(t *testing.T) {
	clk := newFakeClock()
	in, h := offlineIntake(t, clk)
	tooLarge := string(make([]byte, 300))
	commitPayloads(t, in, "{", "{", tooLarge) // the first warning is at once
	clk.Advance(10 * time.Second)
	commitPayloads(t, in, "{")
	clk.Advance(19 * time.Second)
	commitPayloads(t, in, "")
	if n := len(h.Find("payloads rejected")); n != 1 {
		t.Fatalf("%d summaries within %v, want 1", n, rejectSummaryEvery)
	}
	clk.Advance(time.Second)
	commitPayloads(t, in, "{", string(reading("g1", 1)))
	sums := h.Find("payloads rejected")
	if len(sums) != 2 {
		t.Fatalf("%d summaries after %v, want 2", len(sums), rejectSummaryEvery)
	}
	want := []map[string]int64{{"count": 1, "by_reason.parse": 1},
		{"count": 5, "by_reason.parse": 3, "by_reason.too_large": 1, "by_reason.empty": 1}}
	for i, w := range want {
		if got := len(sums[i].Attrs) - 1; got != len(w) { // and "interval"
			t.Errorf("summary %d has attributes %v, want %v", i, sums[i].Attrs, w)
		}
		for k, v := range w {
			if got := sums[i].Attrs[k]; got.String() != fmt.Sprint(v) {
				t.Errorf("summary %d: %s = %v, want %d", i, k, got, v)
			}
		}
	}
	debug := h.Find("payload rejected")
	if len(debug) != 6 {
		t.Fatalf("%d debug records, want one per rejected payload (6)", len(debug))
	}
	for _, r := range debug {
		if r.Attrs["topic"].String() != "emergency_generator/g1" || r.Attrs["reason"].String() == "" ||
			r.Attrs["err"].String() == "" {
			t.Errorf("debug record %v", r.Attrs)
		}
	}
	commitPayloads(t, in, "{")
	in.Close() // logs what is left
	if sums := h.Find("payloads rejected"); len(sums) != 3 || sums[2].Attrs["count"].Int64() != 1 {
		t.Fatalf("summary at Close: %v", sums)
	}
}

func TestSequenceGapWarningsFollowTheInjectedClock(t *testing.T) {
	clk := newFakeClock()
	in, h := offlineIntake(t, clk)
	const msg = "readings missing before the agent (sequence gaps); check the broker's max_queued_messages and persistence"
	in.track("g1", arrival{seq: 1, time: 1}, false)
	in.track("g1", arrival{seq: 5, time: 5}, false) // 3 missing: warned at once
	clk.Advance(gapWarnEvery - time.Millisecond)
	in.track("g1", arrival{seq: 7, time: 7}, false) // 1 missing: summed
	if n := len(h.Find(msg)); n != 1 {
		t.Fatalf("%d gap warnings, want 1", n)
	}
	clk.Advance(time.Millisecond)
	in.track("g1", arrival{seq: 10, time: 10}, false) // 2 missing: warned with the sum
	w := h.Find(msg)
	if len(w) != 2 || w[0].Attrs["missing"].Uint64() != 3 || w[1].Attrs["missing"].Uint64() != 3 {
		t.Fatalf("gap warnings %v", w)
	}
}
