package e2e

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent"
	"github.com/edgespool/edgespool/agent/model"
	"github.com/edgespool/edgespool/sim/fleet"
	"github.com/edgespool/edgespool/spool"
)

// memConfig is the load of the memory benchmarks, from the environment:
// EDGESPOOL_E2E_RATE readings/s and EDGESPOOL_E2E_SECONDS of publishing
// for BenchmarkMemoryLive (defaults 20000 and 15),
// EDGESPOOL_E2E_BACKLOG readings for BenchmarkMemoryDrain (default
// 1000000), and EDGESPOOL_E2E_EXTRA_CONFIG, YAML appended to the agent's
// configuration (e.g. "memory_limit: 40MiB", to compare settings).
type memConfig struct {
	rate    float64
	dur     time.Duration
	backlog int
	extra   string
}

func memConfigFromEnv(b *testing.B) memConfig {
	c := memConfig{rate: 20000, dur: 15 * time.Second, backlog: 1_000_000, extra: os.Getenv("EDGESPOOL_E2E_EXTRA_CONFIG")}
	c.rate = envRate(b, c.rate)
	c.dur = envSeconds(b, c.dur, 1)
	if v := os.Getenv("EDGESPOOL_E2E_BACKLOG"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("EDGESPOOL_E2E_BACKLOG=%q", v)
		}
		c.backlog = n
	}
	return c
}

// memSampler records the largest anonymous and file-backed resident sets
// of a process (RssAnon, RssFile), sampled every 100 ms: VmHWM counts both,
// and the file part is the spool's memory map, pages the kernel can drop.
type memSampler struct {
	stopc     chan struct{}
	done      chan struct{}
	anon, fil int64
}

func sampleMem(pid int) *memSampler {
	s := &memSampler{stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			if u, err := readProc(pid); err == nil {
				s.anon, s.fil = max(s.anon, u.RssAnon), max(s.fil, u.RssFile)
			}
			select {
			case <-s.stopc:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

func (s *memSampler) stop() (anon, file int64) {
	close(s.stopc)
	<-s.done
	return s.anon, s.fil
}

// memRun is one agent process's peak memory.
type memRun struct {
	hwm, anon, file int64 // bytes
	readings        int
	elapsed         time.Duration
}

// memReport reports the medians of runs: MB, and seconds and readings/s
// (of publishing for the live benchmark, of the drain for the backlog).
func memReport(b *testing.B, runs []memRun) {
	med := func(f func(memRun) float64) float64 {
		xs := make([]float64, len(runs))
		for i, r := range runs {
			xs[i] = f(r)
		}
		return median(xs)
	}
	mb := func(n int64) float64 { return float64(n) / (1 << 20) }
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(med(func(r memRun) float64 { return mb(r.hwm) }), "VmHWM_MB")
	b.ReportMetric(med(func(r memRun) float64 { return mb(r.anon) }), "RssAnon_max_MB")
	b.ReportMetric(med(func(r memRun) float64 { return mb(r.file) }), "RssFile_max_MB")
	b.ReportMetric(med(func(r memRun) float64 { return r.elapsed.Seconds() }), "s")
	b.ReportMetric(med(func(r memRun) float64 { return float64(r.readings) / r.elapsed.Seconds() }), "readings/s")
	for i, r := range runs {
		b.Logf("run %d: VmHWM %.1f MB (RssAnon max %.1f, RssFile max %.1f), %d readings in %v",
			i+1, mb(r.hwm), mb(r.anon), mb(r.file), r.readings, r.elapsed.Round(time.Millisecond))
	}
}

// peak reads the agent's VmHWM and stops the sampler.
func (a *agentProc) peak(s *memSampler) memRun {
	a.tb.Helper()
	u, err := readProc(a.pid())
	if err != nil {
		a.tb.Fatal(err)
	}
	anon, file := s.stop()
	return memRun{hwm: u.HWM, anon: anon, file: file}
}

// BenchmarkMemoryLive measures the agent's peak resident set (VmHWM of the
// process, /proc/<pid>/status) while 50 generators publish 20,000
// readings/s at QoS 1 for 15 s with both sinks (Kafka, InfluxDB) and the
// one-minute downsample on, until every reading is confirmed by both
// sinks. Each iteration starts a new agent process (VmHWM is per process)
// on a new spool; the servers are shared.
func BenchmarkMemoryLive(b *testing.B) {
	c := memConfigFromEnv(b)
	e := newDirectEnv(b, benchBroker)
	var runs []memRun
	for i := 0; i < b.N; i++ {
		a := e.newAgent(b, agentOptions{Window: time.Minute, LogLevel: "warn", Extra: c.extra})
		a.start()
		s := sampleMem(a.pid())
		const gens = 50
		pub := startFleet(b, e.broker.URL, 4, fleet.Options{Generators: gens, First: 1 + i*gens,
			Rate: c.rate / gens, Duration: c.dur, Seed: uint64(i + 1), Align: 2 * time.Millisecond})
		start := time.Now()
		pub.wait(b)
		published := time.Since(start)
		want := pub.published()
		a.waitDrained(want, 2*time.Minute)
		r := a.peak(s)
		r.readings, r.elapsed = int(want), published
		runs = append(runs, r)
		a.term()
	}
	memReport(b, runs)
}

// BenchmarkMemoryDrain measures the agent's peak resident set and the time
// to drain a backlog: the spool is prefilled (with the spool package, as
// the intake writes it) with 1,000,000 readings of 100 generators spread
// over the last minutes, then the agent starts with both sinks up and the
// downsample on, and drains them at full speed into Kafka and InfluxDB (and
// the downsample through its window). The time runs from the start of the
// process until both sinks have every reading; the peak is read once the
// downsample's windows have closed too (on the wall clock, up to a minute
// later).
func BenchmarkMemoryDrain(b *testing.B) {
	c := memConfigFromEnv(b)
	e := newDirectEnv(b, benchBroker)
	var runs []memRun
	for i := 0; i < b.N; i++ {
		a := e.newAgent(b, agentOptions{Window: time.Minute, LogLevel: "warn", Extra: c.extra})
		prefill(b, filepath.Join(a.dir, "spool.db"), c.backlog, 1+i*100)
		start := time.Now()
		a.start()
		s := sampleMem(a.pid())
		sinksDone := a.waitDrainedQuiet(2 * time.Minute)
		r := a.peak(s)
		r.readings, r.elapsed = c.backlog, sinksDone.Sub(start)
		runs = append(runs, r)
		a.term()
	}
	memReport(b, runs)
}

// prefill appends n raw readings of 100 generators (ids first..first+99),
// one every 50 µs ending now, as the intake would have spooled them.
func prefill(b *testing.B, path string, n, first int) {
	b.Helper()
	sp, err := spool.Open(path, spool.Options{NoSync: true, Consumers: map[string][]string{
		model.StreamRaw: {agent.ConsumerDownsample, "kafka/raw", "influx/raw"}}})
	if err != nil {
		b.Fatal(err)
	}
	gens := make([]*fleet.Generator, 100)
	for i := range gens {
		gens[i] = fleet.NewGenerator(uint64(first+i), first+i)
	}
	t0 := time.Now().Add(-time.Duration(n) * 50 * time.Microsecond)
	const per = 4096
	recs := make([]spool.Record, 0, per)
	for i := 0; i < n; i++ {
		r := gens[i%len(gens)].Next(t0.Add(time.Duration(i) * 50 * time.Microsecond))
		recs = append(recs, spool.Record{Stream: model.StreamRaw, Key: r.GeneratorID, Time: r.Time,
			Value: model.AppendReading(nil, r)})
		if len(recs) == per || i == n-1 {
			if err := sp.Append(context.Background(), recs); err != nil {
				b.Fatal(err)
			}
			recs = recs[:0]
		}
	}
	if err := sp.Close(); err != nil {
		b.Fatal(err)
	}
}

// waitDrainedQuiet waits until the backlog is 0 with every link up, and
// returns when the sinks first had every record (the downsample's windows
// close later, on the wall clock).
func (a *agentProc) waitDrainedQuiet(timeout time.Duration) (sinksDone time.Time) {
	a.tb.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if st, err := a.status(); err == nil {
			if sinksDone.IsZero() && sinkLag(st) == 0 {
				sinksDone = time.Now()
			}
			if n, up := backlog(st); n == 0 && up {
				return sinksDone
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	a.tb.Fatalf("backlog not drained after %v\n%s", timeout, a.logTail())
	return sinksDone
}

// sinkLag is the records the sinks still have to confirm (maximal while a
// link is not up).
func sinkLag(st agent.Status) uint64 {
	var n uint64
	for _, s := range st.Sinks {
		if s.Link.State.String() != "up" {
			return ^uint64(0)
		}
		n += s.LagRecords
	}
	return n
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
