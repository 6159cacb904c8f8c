package uplink

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent/clock"
	"github.com/edgespool/edgespool/agent/model"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/edgespool/edgespool/agent/logging/logtest"
	"github.com/edgespool/edgespool/spool"
)

// start runs f until the returned stop is called; stop returns Run's error.
func start(t *testing.T, f *Forwarder) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("forwarder did not stop")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func appendRecs(t *testing.T, l Log, recs []spool.Record) {
	t.Helper()
	if err := l.Append(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
}

func newFwd(t *testing.T, l Log, s Sink, o ForwarderOptions) *Forwarder {
	t.Helper()
	if o.Stream == "" {
		o.Stream = model.StreamRaw
	}
	if o.Clock == nil {
		o.Clock = newFakeClock()
	}
	// Every record also goes to a handler that fails the test on a key
	// logged twice (the forwarder's own attributes and the caller's).
	strict := logtest.New(t)
	if o.Logger == nil {
		o.Logger = slog.New(strict)
	} else {
		o.Logger = slog.New(slog.NewMultiHandler(o.Logger.Handler(), strict))
	}
	o.Logger = o.Logger.With("component", "forwarder") // as the agent does
	f, err := NewForwarder(l, s, o)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// checkSpoolOrder checks that got holds exactly want's records, in order.
func checkSpoolOrder(t *testing.T, got []Message, want []spool.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("sink got %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Seq != want[i].Seq || !bytes.Equal(got[i].Value, want[i].Value) {
			t.Fatalf("record %d: got seq %d, want %d", i, got[i].Seq, want[i].Seq)
		}
	}
}

func TestForwarderDeliversInOrderAndAcks(t *testing.T) {
	l := newMemLog()
	appendRecs(t, l, rawRecords(2500, 7))
	s := &memSink{name: "mem"}
	f := newFwd(t, l, s, ForwarderOptions{BatchRecords: 300, Head: func(string) uint64 { return uint64(len(l.records("raw"))) }})
	stop := start(t, f)
	waitFor(t, "drain", func() bool { return l.cursor("mem/raw", "raw") == 2500 })
	appendRecs(t, l, rawRecords(10, 7)) // live records after catching up
	waitFor(t, "live", func() bool { return l.cursor("mem/raw", "raw") == 2510 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	checkSpoolOrder(t, s.received(), l.records("raw"))
	for i := 1; i < len(l.acks); i++ {
		if l.acks[i] <= l.acks[i-1] {
			t.Fatalf("acks not increasing: %v", l.acks)
		}
	}
	st := f.Status()
	if st.Sent != 2510 || st.Cursor != 2510 || st.LagRecords != 0 || st.LagSeconds != 0 || st.Link.State != LinkUp {
		t.Fatalf("status %+v", st)
	}
}

func TestForwarderCursorNeverAdvancesOnFailure(t *testing.T) {
	l := newMemLog()
	appendRecs(t, l, rawRecords(1000, 3))
	var mu sync.Mutex
	calls := 0
	s := &memSink{name: "mem"}
	s.fail = func(msgs []Message) error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		// Each batch fails 5 times before it goes through; the cursor must
		// never be past the batch being attempted.
		if c := l.cursor("mem/raw", "raw"); c >= msgs[0].Seq {
			t.Errorf("cursor %d already past unsent seq %d", c, msgs[0].Seq)
		}
		if calls%6 != 0 {
			return Retryable(errors.New("connection refused"))
		}
		return nil
	}
	clk := newFakeClock()
	f := newFwd(t, l, s, ForwarderOptions{BatchRecords: 100, Clock: clk})
	stop := start(t, f)
	waitFor(t, "drain", func() bool { return l.cursor("mem/raw", "raw") == 1000 })
	stop()
	checkSpoolOrder(t, s.received(), l.records("raw"))
	if n := len(clk.Waits()); n != 50 {
		t.Errorf("%d backoff waits, want 50 (5 per batch)", n)
	}
	for _, w := range clk.Waits() {
		if w > 30*time.Second {
			t.Errorf("backoff %v beyond cap", w)
		}
	}
}

func TestForwarderThrottledHonoursRetryAfter(t *testing.T) {
	l := newMemLog()
	appendRecs(t, l, rawRecords(10, 1))
	n := 0
	s := &memSink{name: "mem", fail: func([]Message) error {
		n++
		if n <= 2 {
			return Throttled(errors.New("429 too many requests"), 42*time.Second)
		}
		return nil
	}}
	clk := newFakeClock()
	f := newFwd(t, l, s, ForwarderOptions{Clock: clk})
	stop := start(t, f)
	waitFor(t, "drain", func() bool { return l.cursor("mem/raw", "raw") == 10 })
	stop()
	w := clk.Waits()
	if len(w) != 2 || w[0] != 42*time.Second || w[1] != 42*time.Second {
		t.Fatalf("waits %v, want [42s 42s]", w)
	}
}

// rejectSeqs returns a sink hook that rejects any batch holding one of the
// bad sequence numbers, as a server does that refuses a whole request.
func rejectSeqs(class Class, indexed bool, bad ...uint64) func([]Message) error {
	return func(msgs []Message) error {
		for i, m := range msgs {
			for _, b := range bad {
				if m.Seq == b {
					err := &Error{Class: class, Index: -1, Err: errors.New("bad record")}
					if indexed {
						return AtIndex(i, err)
					}
					return err
				}
			}
		}
		return nil
	}
}

func TestForwarderIsolatesRejectedRecords(t *testing.T) {
	for _, tc := range []struct {
		name    string
		class   Class
		indexed bool
	}{{"permanent split", ClassPermanent, false}, {"too large split", ClassTooLarge, false}, {"permanent indexed", ClassPermanent, true}} {
		t.Run(tc.name, func(t *testing.T) {
			l := newMemLog()
			appendRecs(t, l, rawRecords(1000, 5))
			bad := []uint64{1, 77, 78, 500, 999, 1000}
			s := &memSink{name: "mem", fail: rejectSeqs(tc.class, tc.indexed, bad...)}
			f := newFwd(t, l, s, ForwarderOptions{BatchRecords: 256})
			stop := start(t, f)
			waitFor(t, "drain", func() bool { return l.cursor("mem/raw", "raw") == 1000 })
			stop()
			var want []spool.Record
			for _, r := range l.records("raw") {
				if !contains(bad, r.Seq) {
					want = append(want, r)
				}
			}
			checkSpoolOrder(t, s.received(), want)
			dl := l.records(model.StreamDeadLetter)
			if len(dl) != len(bad) {
				t.Fatalf("%d dead letters, want %d", len(dl), len(bad))
			}
			for i, r := range dl {
				d, err := model.DecodeDeadLetter(r.Value)
				if err != nil {
					t.Fatal(err)
				}
				orig := l.records("raw")[bad[i]-1]
				if d.Seq != bad[i] || d.Source != "mem" || d.Stream != "raw" || d.Class != tc.class.String() ||
					d.Key != orig.Key || !bytes.Equal(d.Payload, orig.Value) || !strings.Contains(d.Reason, "bad record") {
					t.Errorf("dead letter %d: %+v", i, d)
				}
			}
			if st := f.Status(); st.DeadLetters != uint64(len(bad)) || st.Sent != 1000-uint64(len(bad)) {
				t.Errorf("status %+v", st)
			}
		})
	}
}

func contains(s []uint64, v uint64) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestForwarderDeadLettersUndecodablePayload(t *testing.T) {
	l := newMemLog()
	recs := rawRecords(20, 2)
	recs[13].Value = recs[13].Value[:5] // corrupt
	appendRecs(t, l, recs)
	s := &memSink{name: "mem"} // memSink rejects undecodable payloads with their index
	f := newFwd(t, l, s, ForwarderOptions{})
	stop := start(t, f)
	waitFor(t, "drain", func() bool { return l.cursor("mem/raw", "raw") == 20 })
	stop()
	if got := len(s.received()); got != 19 {
		t.Fatalf("sent %d, want 19", got)
	}
	if dl := l.records(model.StreamDeadLetter); len(dl) != 1 || !strings.Contains(string(dl[0].Value), `"seq":14`) {
		t.Fatalf("dead letters %v", dl)
	}
	if s.sends != 3 { // the batch (rejected at index 13), the 13 before it, the 6 after it
		t.Errorf("%d sends, want 3", s.sends)
	}
}

func TestForwarderDeadLetterAppendFailureCounted(t *testing.T) {
	l := newMemLog()
	appendRecs(t, l, rawRecords(5, 1))
	l.appendFn = func([]spool.Record) error { return spool.ErrFull }
	s := &memSink{name: "mem", fail: rejectSeqs(ClassPermanent, true, 3)}
	var logs bytes.Buffer
	f := newFwd(t, l, s, ForwarderOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	stop := start(t, f)
	waitFor(t, "drain", func() bool { return l.cursor("mem/raw", "raw") == 5 })
	stop()
	if st := f.Status(); st.Dropped != 1 || st.DeadLetters != 0 || st.Sent != 4 {
		t.Fatalf("status %+v", st)
	}
	if !strings.Contains(logs.String(), "rejected records lost") {
		t.Fatalf("loss not logged: %s", logs.String())
	}
}

func TestForwarderCountsSkippedRecords(t *testing.T) {
	l := newMemLog()
	appendRecs(t, l, rawRecords(100, 2))
	l.drop("raw", 1, 30)
	l.drop("raw", 91, 100) // the tail: an empty batch with Skipped
	s := &memSink{name: "mem"}
	var logs bytes.Buffer
	f := newFwd(t, l, s, ForwarderOptions{BatchRecords: 1000, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	stop := start(t, f)
	waitFor(t, "drain", func() bool { return l.cursor("mem/raw", "raw") == 100 })
	stop()
	if st := f.Status(); st.Dropped != 40 || st.Sent != 60 {
		t.Fatalf("status %+v", st)
	}
	if strings.Count(logs.String(), "dropped by the spool") != 2 {
		t.Fatalf("logs: %s", logs.String())
	}
}

// A forwarder stopped while its first batch after a gap fails reports the
// gap once: its cursor already moved past it.
func TestForwarderGapReportedOnce(t *testing.T) {
	l := newMemLog()
	appendRecs(t, l, rawRecords(50, 2))
	l.drop("raw", 1, 20)
	failing := &memSink{name: "mem", fail: func([]Message) error { return errors.New("down") }}
	f1 := newFwd(t, l, failing, ForwarderOptions{Clock: &blockingClock{}})
	stop := start(t, f1)
	waitFor(t, "a failure", func() bool { return f1.Status().Link.Failures > 0 })
	stop()
	if st := f1.Status(); st.Dropped != 20 || l.cursor("mem/raw", "raw") != 20 {
		t.Fatalf("status %+v cursor %d", st, l.cursor("mem/raw", "raw"))
	}
	f2 := newFwd(t, l, &memSink{name: "mem"}, ForwarderOptions{})
	start(t, f2)
	waitFor(t, "drain", func() bool { return l.cursor("mem/raw", "raw") == 50 })
	if st := f2.Status(); st.Dropped != 0 || st.Sent != 30 {
		t.Fatalf("after restart: %+v", st)
	}
}

func TestForwarderRestartMidDrainLosesNothing(t *testing.T) {
	l := newMemLog()
	appendRecs(t, l, rawRecords(3000, 4))
	s := &memSink{name: "mem"}
	// The first forwarder is stopped while its third batch hangs in Send:
	// that batch must not be acknowledged.
	block := make(chan struct{})
	n := 0
	s.fail = func([]Message) error {
		n++
		if n == 3 {
			close(block)
			time.Sleep(50 * time.Millisecond) // the stop arrives meanwhile
			return errors.New("connection reset")
		}
		return nil
	}
	f1 := newFwd(t, l, s, ForwarderOptions{BatchRecords: 500})
	stop := start(t, f1)
	<-block
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if c := l.cursor("mem/raw", "raw"); c != 1000 {
		t.Fatalf("cursor after stop %d, want 1000 (two batches)", c)
	}
	s.fail = nil
	f2 := newFwd(t, l, s, ForwarderOptions{BatchRecords: 500})
	start(t, f2)
	waitFor(t, "drain", func() bool { return l.cursor("mem/raw", "raw") == 3000 })
	checkSpoolOrder(t, s.received(), l.records("raw"))
}

func TestForwarderDownsampledDrainsFirst(t *testing.T) {
	l := newMemLog()
	appendRecs(t, l, rawRecords(2000, 4))
	appendRecs(t, l, downRecords(400, 4))
	var mu sync.Mutex
	var order []string
	var lastDown int
	s := &memSink{name: "mem", fail: func(msgs []Message) error {
		mu.Lock()
		defer mu.Unlock()
		order = append(order, msgs[0].Stream)
		if msgs[0].Stream == model.StreamDownsampled {
			lastDown = len(order)
		}
		time.Sleep(time.Millisecond)
		return nil
	}}
	link := NewLink("mem", LinkOptions{})
	raw := newFwd(t, l, s, ForwarderOptions{Stream: model.StreamRaw, Link: link, BatchRecords: 100})
	down := newFwd(t, l, s, ForwarderOptions{Stream: model.StreamDownsampled, Link: link, BatchRecords: 100})
	start(t, down)
	// Give the downsampled forwarder the head start it has in the agent,
	// where both start together and the priority one reads first.
	waitFor(t, "down started", func() bool { mu.Lock(); defer mu.Unlock(); return len(order) > 0 })
	start(t, raw)
	waitFor(t, "drain", func() bool {
		return l.cursor("mem/raw", "raw") == 2000 && l.cursor("mem/down", "downsampled") == 400
	})
	mu.Lock()
	defer mu.Unlock()
	for i, s := range order[:lastDown] {
		if s != model.StreamDownsampled {
			t.Fatalf("raw batch %d sent before the downsampled backlog was drained: %v", i, order)
		}
	}
}

func TestForwarderRawNotStarvedByFailingPriority(t *testing.T) {
	l := newMemLog()
	appendRecs(t, l, rawRecords(100, 1))
	appendRecs(t, l, downRecords(10, 1))
	// The downsampled topic is missing: its forwarder keeps retrying; raw
	// must still drain.
	s := &memSink{name: "mem", fail: func(msgs []Message) error {
		if msgs[0].Stream == model.StreamDownsampled {
			return Retryable(errors.New("unknown topic"))
		}
		return nil
	}}
	link := NewLink("mem", LinkOptions{})
	start(t, newFwd(t, l, s, ForwarderOptions{Stream: model.StreamDownsampled, Link: link,
		Clock: clock.Real{}, Backoff: BackoffOptions{Min: time.Millisecond, Max: 5 * time.Millisecond}}))
	start(t, newFwd(t, l, s, ForwarderOptions{Stream: model.StreamRaw, Link: link}))
	waitFor(t, "raw drain", func() bool { return l.cursor("mem/raw", "raw") == 100 })
	if c := l.cursor("mem/down", "downsampled"); c != 0 {
		t.Fatalf("downsampled cursor moved to %d on failures", c)
	}
}

func TestForwarderStopsDuringBackoff(t *testing.T) {
	l := newMemLog()
	appendRecs(t, l, rawRecords(10, 1))
	s := &memSink{name: "mem", fail: func([]Message) error { return errors.New("down") }}
	f := newFwd(t, l, s, ForwarderOptions{Clock: &blockingClock{}})
	stop := start(t, f)
	waitFor(t, "first attempt", func() bool { return f.Status().Link.Failures > 0 })
	began := time.Now()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(began); d > 2*time.Second {
		t.Fatalf("stop took %v", d)
	}
	if c := l.cursor("mem/raw", "raw"); c != 0 {
		t.Fatalf("cursor %d after failures only", c)
	}
}

func TestNewForwarderDefaults(t *testing.T) {
	l := newMemLog()
	if _, err := NewForwarder(l, &memSink{name: "x"}, ForwarderOptions{}); err == nil {
		t.Fatal("no stream accepted")
	}
	f := newFwd(t, l, &memSink{name: "kafka"}, ForwarderOptions{Stream: model.StreamDownsampled})
	if f.Consumer() != "kafka/down" || !f.prio {
		t.Fatalf("consumer %q prio %v", f.Consumer(), f.prio)
	}
	f = newFwd(t, l, &memSink{name: "influx"}, ForwarderOptions{Stream: model.StreamRaw})
	if f.Consumer() != "influx/raw" || f.prio {
		t.Fatalf("consumer %q prio %v", f.Consumer(), f.prio)
	}
}

// A sink that reports which messages failed (a Kafka partition down) gets
// only those again: no duplicates, per-generator order kept.
func TestForwarderResendsOnlyFailed(t *testing.T) {
	l := newMemLog()
	appendRecs(t, l, rawRecords(1200, 4))
	s := &memSink{name: "mem"}
	attempts := map[uint64]int{} // first seq of a batch -> attempts
	s.fail = func(msgs []Message) error {
		attempts[msgs[0].Seq]++
		if attempts[msgs[0].Seq] > 1 {
			return nil
		}
		var failed []int
		s.mu.Lock()
		for i, m := range msgs {
			if m.Key == "generator1" || m.Key == "generator3" {
				failed = append(failed, i)
			} else {
				s.got = append(s.got, m)
			}
		}
		s.mu.Unlock()
		return &Error{Class: ClassRetryable, Index: -1, Failed: failed, Err: errors.New("partition leader gone")}
	}
	f := newFwd(t, l, s, ForwarderOptions{BatchRecords: 400})
	start(t, f)
	waitFor(t, "drain", func() bool { return l.cursor("mem/raw", "raw") == 1200 })
	got := s.received()
	if len(got) != 1200 {
		t.Fatalf("%d records delivered, want 1200 without duplicates", len(got))
	}
	last := map[string]uint64{}
	for _, m := range got {
		if m.Seq <= last[m.Key] {
			t.Fatalf("%s: seq %d after %d", m.Key, m.Seq, last[m.Key])
		}
		last[m.Key] = m.Seq
	}
	if st := f.Status(); st.Sent != 1200 {
		t.Fatalf("sent %d", st.Sent)
	}
}

// A batch in flight when the forwarder is stopped may complete within
// StopGrace; it is then acknowledged, so a clean stop resends nothing.
func TestForwarderStopGraceAcksBatchInFlight(t *testing.T) {
	for _, tc := range []struct {
		grace   time.Duration
		wantAck uint64
	}{{2 * time.Second, 100}, {time.Millisecond, 0}} {
		l := newMemLog()
		appendRecs(t, l, rawRecords(100, 2))
		inFlight := make(chan struct{})
		s := &memSink{name: "mem"}
		s.fail = func([]Message) error {
			close(inFlight)
			time.Sleep(200 * time.Millisecond)
			return nil
		}
		var sendErr error
		wrapped := sinkFunc{Sink: s, send: func(ctx context.Context, msgs []Message) error {
			sendErr = s.Send(ctx, msgs)
			if sendErr == nil && ctx.Err() != nil {
				return ctx.Err() // a sink that noticed the cancellation
			}
			return sendErr
		}}
		f := newFwd(t, l, wrapped, ForwarderOptions{Clock: clock.Real{}, StopGrace: tc.grace})
		stop := start(t, f)
		<-inFlight
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if c := l.cursor("mem/raw", "raw"); c != tc.wantAck {
			t.Errorf("grace %v: cursor %d, want %d", tc.grace, c, tc.wantAck)
		}
	}
}

// sinkFunc overrides a sink's Send.
type sinkFunc struct {
	Sink
	send func(context.Context, []Message) error
}

func (s sinkFunc) Send(ctx context.Context, msgs []Message) error { return s.send(ctx, msgs) }

func TestForwarderObservesDeliveryDelay(t *testing.T) {
	l := newMemLog()
	clk := newFakeClock()
	now := clk.Now().UnixNano()
	recs := rawRecords(4, 2)
	for i, age := range []time.Duration{2 * time.Second, 500 * time.Millisecond, 0, -time.Minute} {
		recs[i].Time = now - int64(age) // the last is a device clock ahead of the gateway's
	}
	appendRecs(t, l, recs)
	m := NewMetrics(nil)
	f := newFwd(t, l, &memSink{name: "mem"}, ForwarderOptions{Clock: clk, Metrics: m})
	stop := start(t, f)
	waitFor(t, "drain", func() bool { return l.cursor("mem/raw", "raw") == 4 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	var d dto.Metric
	if err := m.delay.WithLabelValues("mem", "raw").(prometheus.Metric).Write(&d); err != nil {
		t.Fatal(err)
	}
	if h := d.GetHistogram(); h.GetSampleCount() != 4 || h.GetSampleSum() != 2.5 {
		t.Fatalf("delay histogram: %d samples, sum %v; want 4, 2.5", h.GetSampleCount(), h.GetSampleSum())
	}
}
