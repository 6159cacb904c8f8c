package downsample

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent/model"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgespool/edgespool/agent/clock"
	"github.com/edgespool/edgespool/spool"
)

// fakeClock is a settable wall clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// After waits on the real clock (the engine's retries).
func (c *fakeClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// nowFunc is a clock.Clock reading its time from a function.
type nowFunc func() time.Time

func (f nowFunc) Now() time.Time                         { return f() }
func (f nowFunc) After(d time.Duration) <-chan time.Time { return time.After(d) }

// testConsumer is the engine's cursor name in these tests.
const testConsumer = "downsample"

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// running is an Engine running in a goroutine.
type running struct {
	e    *Engine
	reg  *prometheus.Registry
	stop context.CancelFunc
	done chan error
}

func startEngine(t *testing.T, log Log, o EngineOptions) *running {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	o.Registerer = reg
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	o.TickInterval = orDuration(o.TickInterval, 2*time.Millisecond)
	o.RetryDelay = orDuration(o.RetryDelay, time.Millisecond)
	if o.Consumer == "" {
		o.Consumer = testConsumer
	}
	e, err := NewEngine(log, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{e: e, reg: reg, stop: cancel, done: make(chan error, 1)}
	go func() { r.done <- e.Run(ctx) }()
	t.Cleanup(func() { r.halt(t) })
	return r
}

// halt stops the engine and waits for Run to return.
func (r *running) halt(t *testing.T) {
	t.Helper()
	r.stop()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
		r.done <- nil
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func (r *running) counter(name string, labels ...string) float64 {
	fams, _ := r.reg.Gather()
	for _, f := range fams {
		if f.GetName() != "edgespool_downsample_"+name {
			continue
		}
		total := 0.0
		for _, m := range f.GetMetric() {
			if len(labels) == 0 || (len(m.GetLabel()) > 0 && m.GetLabel()[0].GetValue() == labels[0]) {
				total += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
		return total
	}
	return 0
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitPoints waits until the downsampled stream holds n points.
func waitPoints(t *testing.T, f *fakeLog, n int) []model.Point {
	t.Helper()
	var pts []model.Point
	waitFor(t, fmt.Sprintf("%d points", n), func() bool {
		var err error
		pts, err = f.points()
		if err != nil {
			t.Fatal(err)
		}
		return len(pts) >= n
	})
	return pts
}

// caughtUp waits until the engine has processed the whole raw stream.
func caughtUp(t *testing.T, r *running, f *fakeLog) {
	t.Helper()
	f.mu.Lock()
	last := f.last[model.StreamRaw]
	f.mu.Unlock()
	waitFor(t, fmt.Sprint("position ", last), func() bool { return r.counter("position") == float64(last) })
}

// finish waits until the engine has read everything, then lets the wall
// clock run (a minute per millisecond) so that every generator falls
// silent and the clock closes all open windows, and waits for the
// reference's points.
func finish(t *testing.T, r *running, f *fakeLog, clock *fakeClock, want []model.Point) []model.Point {
	t.Helper()
	caughtUp(t, r, f)
	var pts []model.Point
	waitFor(t, fmt.Sprintf("%d points", len(want)), func() bool {
		clock.Set(clock.Now().Add(time.Minute))
		var err error
		if pts, err = f.points(); err != nil {
			t.Fatal(err)
		}
		return len(pts) >= len(want)
	})
	time.Sleep(20 * time.Millisecond) // a surplus would show now
	pts, _ = f.points()
	return pts
}

func TestEngineMatchesReference(t *testing.T) {
	for seed := range uint64(5) {
		rng := rand.New(rand.NewPCG(seed, 3))
		stream := randomStream(rng, 2000)
		f := newFakeLog()
		clock := &fakeClock{t: t0.Add(3 * time.Hour)}
		r := startEngine(t, f, EngineOptions{Clock: clock, BatchSize: 1 + rng.IntN(300)})
		for i := 0; i < len(stream); i += 97 {
			f.appendReadings(stream[i:min(i+97, len(stream))]...)
		}
		got := finish(t, r, f, clock, reference(Options{}, stream))
		checkOrder(t, got)
		comparePoints(t, got, reference(Options{}, stream))
		if n := r.counter("readings_total"); n != float64(len(stream)) {
			t.Errorf("readings_total %v, want %d", n, len(stream))
		}
		r.halt(t)
	}
}

// TestEngineRestarts stops engines at random moments (no clean shutdown
// matters: the fake keeps only what was committed), injects failed commits
// and reads, and checks that the downsampled stream has every window
// exactly once.
func TestEngineRestarts(t *testing.T) {
	for seed := range uint64(8) {
		rng := rand.New(rand.NewPCG(seed, 11))
		stream := randomStream(rng, 3000)
		f := newFakeLog()
		clock := &fakeClock{t: t0.Add(3 * time.Hour)}
		o := EngineOptions{Clock: clock, BatchSize: 1 + rng.IntN(200)}
		var r *running
		for i := 0; i < len(stream); {
			r = startEngine(t, f, o)
			for range 1 + rng.IntN(5) {
				n := min(1+rng.IntN(150), len(stream)-i)
				f.appendReadings(stream[i : i+n]...)
				i += n
				f.set(func(f *fakeLog) { f.failCommits, f.failReads = rng.IntN(2), rng.IntN(2) })
				time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
			}
			r.halt(t)
		}
		r = startEngine(t, f, o)
		got := finish(t, r, f, clock, reference(Options{}, stream))
		checkOrder(t, got)
		comparePoints(t, got, reference(Options{}, stream))
	}
}

func TestEngineCorruptAndDropped(t *testing.T) {
	f := newFakeLog()
	clock := &fakeClock{t: t0.Add(time.Hour)}
	var valid []model.Reading
	corrupt, dropped := 0, 1
	for i := range 300 {
		r := reading(fmt.Sprint("g", i%3), at(time.Duration(i)*time.Second), int64(1000-i*3))
		switch {
		case i%29 == 5:
			f.append(model.StreamRaw, []byte{1, 2, 3})
			corrupt++
		case i%31 == 7:
			b := model.AppendReading(nil, r)
			f.append(model.StreamRaw, b[:len(b)-2])
			corrupt++
		case i >= 100 && i < 110:
			f.appendReadings(r)
			f.drop(model.StreamRaw, f.last[model.StreamRaw])
			dropped++
		default:
			f.appendReadings(r)
			valid = append(valid, r)
		}
	}
	f.drop(model.StreamRaw, 1)
	valid = valid[1:]
	r := startEngine(t, f, EngineOptions{Clock: clock, BatchSize: 7})
	want := reference(Options{}, valid)
	got := finish(t, r, f, clock, want)
	comparePoints(t, got, want)
	if c := r.counter("corrupt_records_total"); c != float64(corrupt) {
		t.Errorf("corrupt_records_total %v, want %d", c, corrupt)
	}
	if s := r.counter("skipped_records_total"); s != float64(dropped) {
		t.Errorf("skipped_records_total %v, want %d", s, dropped)
	}
	if n := r.counter("readings_total"); n != float64(len(valid)) {
		t.Errorf("readings_total %v, want %d", n, len(valid))
	}
}

func TestEngineLateAndClockClose(t *testing.T) {
	f := newFakeLog()
	clock := &fakeClock{t: t0.Add(10 * time.Second)}
	r := startEngine(t, f, EngineOptions{Clock: clock})
	f.appendReadings(reading("a", at(10*time.Second), 900), reading("b", at(10*time.Second), 450))
	caughtUp(t, r, f)
	clock.Set(t0.Add(70 * time.Second))
	f.appendReadings(reading("a", at(70*time.Second), 880))
	waitPoints(t, f, 1) // a's first window, closed by a's event time
	clock.Set(t0.Add(71 * time.Second))
	f.appendReadings(reading("a", at(20*time.Second), 1))
	waitFor(t, "late reading", func() bool { return r.counter("late_readings_total") == 1 })
	if pts, _ := f.points(); len(pts) != 1 {
		t.Fatalf("%d points before the clock closes b's window", len(pts))
	}
	clock.Set(t0.Add(95*time.Second + 1))
	pts := waitPoints(t, f, 2)
	if pts[1].GeneratorID != "b" || pts[1].Alarm != "refuel" {
		t.Errorf("clock-closed point %+v", pts[1])
	}
	clock.Set(t0.Add(71*time.Second + 96*time.Second))
	pts = waitPoints(t, f, 3)
	if p := pts[2]; p.GeneratorID != "a" || p.Time != at(70*time.Second) {
		t.Errorf("a's last window: %+v", p)
	}
}

// TestEngineClockWaitsWhileInputIsDown: while InputLive reports false, and
// for IdleGrace after it reports true again, the clock closes no window of
// a silent generator; then it does.
func TestEngineClockWaitsWhileInputIsDown(t *testing.T) {
	f := newFakeLog()
	clock := &fakeClock{t: t0.Add(10 * time.Second)}
	var live atomic.Bool
	r := startEngine(t, f, EngineOptions{Clock: clock, InputLive: live.Load})
	f.appendReadings(reading("b", at(10*time.Second), 450))
	caughtUp(t, r, f)
	clock.Set(t0.Add(200 * time.Second)) // the clock alone would close b's window at 95 s
	time.Sleep(50 * time.Millisecond)    // many ticks
	if pts, _ := f.points(); len(pts) != 0 {
		t.Fatalf("window closed by the clock while the input was down: %+v", pts)
	}
	live.Store(true) // back at 200 s: the clock may close from 230 s
	time.Sleep(50 * time.Millisecond)
	if pts, _ := f.points(); len(pts) != 0 {
		t.Fatalf("window closed within IdleGrace of the input's return: %+v", pts)
	}
	clock.Set(t0.Add(231 * time.Second))
	if pts := waitPoints(t, f, 1); pts[0].GeneratorID != "b" || pts[0].Time != at(10*time.Second) {
		t.Errorf("clock-closed point %+v", pts[0])
	}
}

// TestEngineClockCloseUnderLoad: while one generator keeps the raw stream
// busy (every read returns new records), a stopped generator's window is
// still closed by the clock.
func TestEngineClockCloseUnderLoad(t *testing.T) {
	f := newFakeLog()
	clock := &fakeClock{t: t0.Add(10 * time.Second)}
	var mu sync.Mutex
	next := t0.Add(10 * time.Second)
	f.onRead = func() {
		mu.Lock()
		defer mu.Unlock()
		next = next.Add(10 * time.Millisecond)
		clock.Set(next)
		f.appendReadings(reading("busy", next.UnixNano(), 900))
	}
	f.appendReadings(reading("stopped", at(10*time.Second), 450))
	r := startEngine(t, f, EngineOptions{Clock: clock})
	waitFor(t, "stopped generator's point", func() bool {
		pts, _ := f.points()
		for _, p := range pts {
			if p.GeneratorID == "stopped" {
				return true
			}
		}
		return false
	})
	if st := r.e.Status(); st.Windows == 0 || st.Position == 0 || st.Generators != 2 {
		t.Errorf("status %+v", st)
	}
}

// alarmRecorder is an AlarmPublisher that checks that the alarm's point is
// already committed and can be made to fail or block.
type alarmRecorder struct {
	f      *fakeLog
	mu     sync.Mutex
	got    []Alarm
	fail   int  // fail this many calls
	block  bool // block until the context ends
	uncomm int  // alarms whose point was not committed yet
}

func (a *alarmRecorder) PublishAlarm(ctx context.Context, al Alarm) error {
	a.mu.Lock()
	block, fail := a.block, a.fail > 0
	if fail {
		a.fail--
	}
	a.mu.Unlock()
	if block {
		<-ctx.Done()
		return ctx.Err()
	}
	if fail {
		return errInjected
	}
	pts, _ := a.f.points()
	found := false
	for _, p := range pts {
		found = found || (p.GeneratorID == al.GeneratorID && p.Time == al.Time.UnixNano() && p.Alarm == al.Label)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !found {
		a.uncomm++
	}
	a.got = append(a.got, al)
	return nil
}

func (a *alarmRecorder) alarms() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var s []string
	for _, al := range a.got {
		s = append(s, fmt.Sprintf("%s %q<-%q fuel=%d", al.GeneratorID, al.Label, al.Previous, al.Fuel))
	}
	return s
}

func alarmStream() []model.Reading {
	var rs []model.Reading
	for i, fuel := range []int64{900, 800, 400, 300, 600, 500, 499} {
		rs = append(rs, reading("g1", at(time.Duration(i)*time.Minute+time.Second), fuel))
	}
	return append(rs, reading("g2", at(time.Second), 100), reading("g1", at(10*time.Minute), 1000))
}

func TestEngineAlarms(t *testing.T) {
	f := newFakeLog()
	rec := &alarmRecorder{f: f, fail: 2}
	clock := &fakeClock{t: t0.Add(10 * time.Minute)}
	r := startEngine(t, f, EngineOptions{Clock: clock, Publisher: rec})
	for _, rd := range alarmStream() {
		f.appendReadings(rd)
	}
	caughtUp(t, r, f)
	clock.Set(t0.Add(time.Hour))
	waitPoints(t, f, 8)
	want := []string{`g1 "no action"<-"" fuel=900`, `g1 "refuel"<-"no action" fuel=400`,
		`g1 "no action"<-"refuel" fuel=600`, `g1 "refuel"<-"no action" fuel=499`,
		`g1 "no action"<-"refuel" fuel=1000`, `g2 "refuel"<-"" fuel=100`}
	waitFor(t, "latest alarms", func() bool {
		got := rec.alarms()
		return slices.Contains(got, want[4]) && slices.Contains(got, want[5])
	})
	r.halt(t)
	got := rec.alarms()
	if rec.uncomm != 0 {
		t.Errorf("%d alarms published before their point was committed", rec.uncomm)
	}
	// Every published alarm is a real state change; per generator the
	// sequence ends in the latest state (failed or pending publications may
	// be superseded by a newer state).
	for _, a := range got {
		if !slices.Contains(want, a) {
			t.Errorf("unexpected alarm %q", a)
		}
	}
	for _, g := range []string{"g1", "g2"} {
		var last string
		for _, a := range got {
			if a[:2] == g {
				last = a
			}
		}
		if wantLast := map[string]string{"g1": want[4], "g2": want[5]}[g]; last != wantLast {
			t.Errorf("%s: last alarm %q, want %q (all: %q)", g, last, wantLast, got)
		}
	}
	if n := r.counter("alarms_total"); n != 6 {
		t.Errorf("alarms_total %v, want 6", n)
	}
	if e := r.counter("alarm_publish_errors_total"); e != 2 {
		t.Errorf("alarm_publish_errors_total %v, want 2", e)
	}
}

func TestEngineBlockedPublisherDoesNotBlock(t *testing.T) {
	f := newFakeLog()
	rec := &alarmRecorder{f: f, block: true}
	clock := &fakeClock{t: t0.Add(10 * time.Minute)}
	r := startEngine(t, f, EngineOptions{Clock: clock, Publisher: rec, PublishTimeout: time.Hour})
	for _, rd := range alarmStream() {
		f.appendReadings(rd)
	}
	caughtUp(t, r, f)
	clock.Set(t0.Add(time.Hour))
	waitPoints(t, f, 8)
}

func TestEngineSpoolErrors(t *testing.T) {
	f := newFakeLog()
	f.failReads, f.failCommits = 3, 2
	clock := &fakeClock{t: t0.Add(10 * time.Minute)}
	r := startEngine(t, f, EngineOptions{Clock: clock})
	stream := alarmStream()
	f.appendReadings(stream...)
	caughtUp(t, r, f)
	clock.Set(t0.Add(time.Hour))
	got := waitPoints(t, f, 8)
	comparePoints(t, got, reference(Options{}, stream))
	if n := r.counter("spool_errors_total"); n != 5 {
		t.Errorf("spool_errors_total %v, want 5", n)
	}

	f.set(func(f *fakeLog) { f.closed = true })
	f.appendReadings(reading("g1", at(time.Hour), 1))
	select {
	case err := <-r.done:
		if !errors.Is(err, spool.ErrClosed) {
			t.Errorf("Run on a closed spool: %v", err)
		}
		r.done <- nil
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return on a closed spool")
	}
}

func TestEngineCountsOnceAcrossRestart(t *testing.T) {
	f := newFakeLog()
	clock := &fakeClock{t: t0.Add(time.Minute)}
	o := EngineOptions{Clock: clock}
	r := startEngine(t, f, o)
	f.appendReadings(reading("g", at(10*time.Second), 900), reading("g", at(20*time.Second), 800),
		reading("g", at(70*time.Second), 700))
	waitPoints(t, f, 1)
	r.halt(t)
	if cur := f.cursors[testConsumer+"/"+model.StreamRaw]; cur != 2 {
		t.Errorf("cursor %d, want 2 (just before the open window's reading)", cur)
	}
	r = startEngine(t, f, o)
	f.appendReadings(reading("g", at(80*time.Second), 600), reading("g", at(30*time.Second), 1))
	waitFor(t, "position 5", func() bool { return r.counter("position") == 5 })
	if n, l := r.counter("readings_total"), r.counter("late_readings_total"); n != 2 || l != 1 {
		t.Errorf("after restart: readings_total %v late %v, want 2 and 1", n, l)
	}
}

// TestEngineCommitInterval: a cursor that moves without finished windows
// is committed once per CommitInterval, finished windows at once.
func TestEngineCommitInterval(t *testing.T) {
	f := newFakeLog()
	clock := &fakeClock{t: t0.Add(time.Minute)}
	r := startEngine(t, f, EngineOptions{Clock: clock})
	commits := func() int { f.mu.Lock(); defer f.mu.Unlock(); return f.commits }
	for i := range 20 { // each reading replaces the window's reading: the cursor may move
		f.appendReadings(reading("g", at(time.Duration(i)*time.Second), 900))
	}
	caughtUp(t, r, f)
	time.Sleep(20 * time.Millisecond)
	if n := commits(); n > 1 {
		t.Errorf("%d commits within one interval", n)
	}
	clock.Set(clock.Now().Add(1100 * time.Millisecond))
	waitFor(t, "interval commit", func() bool {
		cur, _, _ := f.Cursor(testConsumer, model.StreamRaw)
		return cur == 19
	})
	f.appendReadings(reading("g", at(66*time.Second), 900))
	waitPoints(t, f, 1)
}

func TestNewEngineRejectsBadOptions(t *testing.T) {
	if _, err := NewEngine(newFakeLog(), EngineOptions{Consumer: testConsumer, Options: Options{Rules: []Rule{{Field: "oil"}}}}); !errors.Is(err, ErrBadRule) {
		t.Errorf("bad rule: %v", err)
	}
	if _, err := NewEngine(newFakeLog(), EngineOptions{}); !errors.Is(err, ErrNoConsumer) {
		t.Errorf("no consumer name: %v", err)
	}
	reg := prometheus.NewRegistry()
	if _, err := NewEngine(newFakeLog(), EngineOptions{Consumer: testConsumer, Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := NewEngine(newFakeLog(), EngineOptions{Consumer: testConsumer, Registerer: reg}); err == nil {
		t.Error("second engine on one registry: no error")
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(b[:len(b)-1]))
	return len(b), nil
}

// pendingAtStop runs the alarm stream with a publisher that fails until
// stop, then halts the engine after failing is set to stillFailing.
func pendingAtStop(t *testing.T, stillFailing bool) (*running, *alarmRecorder) {
	t.Helper()
	f := newFakeLog()
	rec := &alarmRecorder{f: f, fail: 1 << 30}
	clock := &fakeClock{t: t0.Add(10 * time.Minute)}
	r := startEngine(t, f, EngineOptions{Clock: clock, Publisher: rec,
		RetryDelay: time.Hour, MaxRetryDelay: time.Hour})
	f.appendReadings(alarmStream()...)
	caughtUp(t, r, f)
	clock.Set(t0.Add(time.Hour))
	waitPoints(t, f, 8)
	waitFor(t, "failed publications", func() bool { return r.counter("alarm_publish_errors_total") >= 2 })
	if !stillFailing {
		rec.mu.Lock()
		rec.fail = 0
		rec.mu.Unlock()
	}
	r.halt(t)
	return r, rec
}

func TestEnginePublishesPendingAlarmsOnStop(t *testing.T) {
	r, rec := pendingAtStop(t, false)
	got := rec.alarms()
	for _, want := range []string{`g1 "no action"<-"refuel" fuel=1000`, `g2 "refuel"<-"" fuel=100`} {
		if !slices.Contains(got, want) {
			t.Errorf("latest state %q not published at stop (got %q)", want, got)
		}
	}
	if n := r.counter("alarm_unpublished_total"); n != 0 {
		t.Errorf("alarm_unpublished_total %v, want 0", n)
	}
}

func TestEngineCountsAlarmsUnpublishedAtStop(t *testing.T) {
	r, rec := pendingAtStop(t, true)
	if got := rec.alarms(); len(got) != 0 {
		t.Errorf("published %q through a failing publisher", got)
	}
	if n := r.counter("alarm_unpublished_total"); n != 2 {
		t.Errorf("alarm_unpublished_total %v, want 2 (g1 and g2)", n)
	}
}

// TestEngineRetriesOnTheInjectedClock: a failed spool read is retried after
// the backoff delay measured on EngineOptions.Clock, not the wall clock.
func TestEngineRetriesOnTheInjectedClock(t *testing.T) {
	f := newFakeLog()
	f.failReads = 1
	fc := clock.NewFake(t0.Add(10 * time.Minute))
	r := startEngine(t, f, EngineOptions{Clock: fc, RetryDelay: time.Hour, MaxRetryDelay: time.Hour})
	f.appendReadings(reading("g", at(10*time.Second), 900))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := fc.WaitForWaiters(ctx, 1); err != nil {
		t.Fatal("the engine did not wait on the injected clock after a failed read")
	}
	time.Sleep(50 * time.Millisecond)
	if p := r.counter("position"); p != 0 {
		t.Fatalf("position %v before the retry delay passed on the clock", p)
	}
	fc.Advance(time.Hour)
	caughtUp(t, r, f)
}
