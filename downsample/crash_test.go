package downsample

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent/model"

	"github.com/edgespool/edgespool/spool"
)

// The crash test runs the engine in a child process (this test binary,
// re-executed) on a real spool file, kills it with SIGKILL at random
// moments, restarts it, and finally checks the downsampled stream: every
// (generator, window) exactly once, equal to the reference computation.
// Raw records are deleted as soon as the engine's cursor passes them, so a
// cursor that moved too far would lose windows.

const (
	crashEnvPath  = "EDGESPOOL_DOWNSAMPLE_CRASH_SPOOL"
	crashEnvBatch = "EDGESPOOL_DOWNSAMPLE_CRASH_BATCH"
	crashEnvFast  = "EDGESPOOL_DOWNSAMPLE_CRASH_FAST_CLOCK"
	crashEnvNow   = "EDGESPOOL_DOWNSAMPLE_CRASH_NOW"
	crashSeed     = 20240301
)

func crashSpoolOptions() spool.Options {
	return spool.Options{Consumers: map[string][]string{model.StreamRaw: {testConsumer}}}
}

// TestCrashChild is the child: it runs the engine until it is killed.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnvPath)
	if path == "" {
		t.Skip("child process of TestCrashRecovery")
	}
	s, err := spool.Open(path, crashSpoolOptions())
	if err != nil {
		t.Fatalf("open spool: %v", err)
	}
	batch, _ := strconv.Atoi(os.Getenv(crashEnvBatch))
	base, err := strconv.ParseInt(os.Getenv(crashEnvNow), 10, 64)
	if err != nil {
		t.Fatalf("%s: %v", crashEnvNow, err)
	}
	now := func() time.Time { return time.Unix(0, base) }
	if os.Getenv(crashEnvFast) != "" {
		start := time.Now()
		now = func() time.Time { return time.Unix(0, base).Add(600 * time.Since(start)) }
	}
	e, err := NewEngine(s, EngineOptions{Consumer: testConsumer, BatchSize: batch, Clock: nowFunc(now)})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns and kills processes")
	}
	rng := rand.New(rand.NewPCG(crashSeed, 1))
	stream := randomStream(rng, 10000)
	path := filepath.Join(t.TempDir(), "spool.db")
	fillRaw(t, path, stream)
	crashLoop(t, rng, path, stream, nil)
	got := drainInProcess(t, path, stream, len(reference(Options{}, stream)))
	want := reference(Options{}, stream)
	checkOrder(t, got)
	comparePoints(t, got, want)
}

// TestCrashRecoveryRunningClock lets the children's wall clock run fast
// (ten minutes per second), so windows also close by clock at moments that
// differ between runs: no (generator, window) may appear twice, and each
// point must be a reading of the stream in its own window.
func TestCrashRecoveryRunningClock(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns and kills processes")
	}
	rng := rand.New(rand.NewPCG(crashSeed, 2))
	stream := randomStream(rng, 10000)
	path := filepath.Join(t.TempDir(), "spool.db")
	fillRaw(t, path, stream)
	crashLoop(t, rng, path, stream, []string{crashEnvFast + "=1"})
	got := drainInProcess(t, path, stream, 0)
	checkOrder(t, got)
	valid := map[model.Reading]bool{}
	for _, r := range stream {
		valid[r] = true
	}
	w, _ := NewWindower(Options{})
	for _, p := range got {
		if !valid[p.Reading] || w.Start(p.Time) != p.Window || p.Alarm != label(w.o.Rules, DefaultLabel, p.Reading) {
			t.Fatalf("point not from the stream: %+v", p)
		}
	}
	if len(got) < len(reference(Options{}, stream))/2 {
		t.Errorf("only %d points", len(got))
	}
}

// crashLoop starts the child engine twelve times and kills it with SIGKILL
// after a random short time.
func crashLoop(t *testing.T, rng *rand.Rand, path string, stream []model.Reading, env []string) {
	t.Helper()
	kills, partial := 0, 0
	for round := range 12 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnvPath+"="+path, crashEnvBatch+"="+strconv.Itoa(1+rng.IntN(12)),
			crashEnvNow+"="+strconv.FormatInt(crashStart(stream).UnixNano(), 10))
		cmd.Env = append(cmd.Env, env...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(20+rng.IntN(150)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err == nil {
			kills++
		}
		if err := cmd.Wait(); err != nil && !isKilled(err) {
			t.Fatalf("round %d: child: %v", round, err)
		}
		if cur, pts := progress(t, path); cur < uint64(len(stream))-100 {
			partial++
			t.Logf("round %d: killed at cursor %d with %d points", round, cur, pts)
		}
	}
	if partial < 3 {
		t.Errorf("only %d of 12 kills hit the engine mid-stream", partial)
	}
	t.Logf("%d kills, %d mid-stream", kills, partial)
}

// progress returns the engine's durable cursor and the number of points.
func progress(t *testing.T, path string) (uint64, int) {
	t.Helper()
	s, err := spool.Open(path, crashSpoolOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cur, _, err := s.Cursor(testConsumer, model.StreamRaw)
	if err != nil {
		t.Fatal(err)
	}
	return cur, len(spoolPoints(t, s))
}

func isKilled(err error) bool {
	ee, ok := err.(*exec.ExitError)
	if !ok {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

func fillRaw(t *testing.T, path string, stream []model.Reading) {
	t.Helper()
	s, err := spool.Open(path, crashSpoolOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < len(stream); i += 500 {
		var recs []spool.Record
		for _, r := range stream[i:min(i+500, len(stream))] {
			recs = append(recs, spool.Record{Stream: model.StreamRaw, Key: r.GeneratorID, Time: r.Time, Value: model.AppendReading(nil, r)})
		}
		if err := s.Append(context.Background(), recs); err != nil {
			t.Fatal(err)
		}
	}
}

// crashStart is the children's wall clock: the stream's latest event time,
// so that no reading is in the future (the stream spans far less than the
// retention).
func crashStart(stream []model.Reading) time.Time {
	last := stream[0].Time
	for _, r := range stream {
		last = max(last, r.Time)
	}
	return time.Unix(0, last)
}

// drainInProcess runs the engine on the spool with a running clock until it
// has read all n readings, no window is open and at least want points are
// out, and returns the downsampled stream.
func drainInProcess(t *testing.T, path string, stream []model.Reading, want int) []model.Point {
	t.Helper()
	s, err := spool.Open(path, crashSpoolOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	clock := &fakeClock{t: crashStart(stream)}
	r := startEngine(t, s, EngineOptions{Clock: clock})
	waitFor(t, fmt.Sprintf("%d points", want), func() bool {
		if r.counter("position") != float64(len(stream)) {
			return false
		}
		clock.Set(clock.Now().Add(time.Minute))
		return r.counter("open_windows") == 0 && len(spoolPoints(t, s)) >= want
	})
	r.halt(t)
	return spoolPoints(t, s)
}

func spoolPoints(t *testing.T, s *spool.Spool) []model.Point {
	t.Helper()
	var pts []model.Point
	err := s.Scan(model.StreamDownsampled, 0, func(rec spool.Record) error {
		p, err := model.DecodePoint(rec.Value)
		if err != nil {
			return fmt.Errorf("record %d: %w", rec.Seq, err)
		}
		if rec.Key != p.GeneratorID || rec.Time != p.Time {
			return fmt.Errorf("record %d: key %q time %d for point %s at %d", rec.Seq, rec.Key, rec.Time, p.GeneratorID, p.Time)
		}
		pts = append(pts, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pts
}
