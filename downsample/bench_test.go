package downsample

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent/model"

	"github.com/edgespool/edgespool/spool"
)

// benchLoad is a fleet for benchmarks: gens generators, each sending rate
// readings per second of event time, interleaved in time order.
type benchLoad struct {
	gens int
	rate int
}

// 100 generators at 10 Hz, 1,000 at 1 Hz, 2 at the article's 1,000 Hz.
var benchLoads = []benchLoad{{100, 10}, {1000, 1}, {2, 1000}}

func (l benchLoad) String() string { return fmt.Sprintf("gens=%d/rate=%dHz", l.gens, l.rate) }

// reading returns the i-th reading of the load.
func (l benchLoad) reading(ids []string, i int) model.Reading {
	g := i % l.gens
	step := int64(time.Second) / int64(l.rate)
	return model.Reading{GeneratorID: ids[g], Time: t0.UnixNano() + int64(i/l.gens)*step + int64(g),
		Lat: 40.7, Lon: -74, Temperature: 205, Power: 1534, Load: 62, Fuel: 1000 - int64(i%1100)}
}

func (l benchLoad) ids() []string {
	ids := make([]string, l.gens)
	for i := range ids {
		ids[i] = fmt.Sprintf("generator%d", i+1)
	}
	return ids
}

// records encodes n readings of the load as raw spool records.
func (l benchLoad) records(n int) []spool.Record {
	ids := l.ids()
	recs := make([]spool.Record, n)
	for i := range recs {
		r := l.reading(ids, i)
		recs[i] = spool.Record{Stream: model.StreamRaw, Seq: uint64(i + 1), Key: r.GeneratorID, Time: r.Time,
			Value: model.AppendReading(nil, r)}
	}
	return recs
}

// BenchmarkWindower measures the pure logic on decoded readings.
func BenchmarkWindower(b *testing.B) {
	for _, l := range benchLoads {
		b.Run(l.String(), func(b *testing.B) {
			ids := l.ids()
			w, _ := NewWindower(Options{})
			now := t0.Add(time.Hour)
			var pts []model.Point
			b.ReportAllocs()
			cpu := cpuTime()
			for i := 0; b.Loop(); i++ {
				w.Add(l.reading(ids, i), uint64(i+1), now)
				if i%4096 == 0 {
					pts = w.Take(pts[:0])
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "readings/s")
			b.ReportMetric(float64(b.N)/(cpuTime()-cpu).Seconds(), "readings/cpu-s")
		})
	}
}

// memLog is the fastest possible Log: records served from memory, commits
// counted and dropped. It isolates the engine's own cost.
type memLog struct {
	raw     []spool.Record
	derived int
}

func (m *memLog) ReadAfter(_ string, after uint64, max int) (spool.Batch, error) {
	end := min(int(after)+max, len(m.raw))
	return spool.Batch{Records: m.raw[after:end]}, nil
}
func (m *memLog) Cursor(string, string) (uint64, []byte, error) { return 0, nil, nil }
func (m *memLog) Commit(_, _ string, _ uint64, _ []byte, d []spool.Record) error {
	m.derived += len(d)
	return nil
}
func (m *memLog) Notify(string) <-chan struct{} { return nil }

// BenchmarkEngine measures the engine on an in-memory log: decoding,
// windows, alarms, point encoding, state encoding per batch.
func BenchmarkEngine(b *testing.B) {
	for _, l := range benchLoads {
		b.Run(l.String(), func(b *testing.B) {
			log := &memLog{raw: l.records(b.N)}
			e := benchEngine(b, log)
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cpuTime()
			drain(b, e, uint64(b.N))
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "readings/s")
			b.ReportMetric(float64(b.N)/(cpuTime()-cpu).Seconds(), "readings/cpu-s")
			b.ReportMetric(float64(log.derived), "points")
		})
	}
}

// BenchmarkEngineSpool measures the engine on a real spool file whose raw
// stream was filled beforehand: reads, processing and the commits of
// points, cursor and state; with and without fsync, and with the raw
// records deleted once the engine acknowledges them ("trim", as in
// production) or kept. Run it with -benchtime 300000x: far larger runs
// also time the spool's automatic compaction of the drained file.
func BenchmarkEngineSpool(b *testing.B) {
	for _, mode := range []string{"nosync/trim", "nosync/keep", "fsync/trim", "fsync/keep"} {
		b.Run(mode, func(b *testing.B) {
			o := spool.Options{NoSync: strings.HasPrefix(mode, "nosync")}
			if strings.HasSuffix(mode, "trim") {
				o.Consumers = map[string][]string{model.StreamRaw: {testConsumer}}
			}
			s, err := spool.Open(filepath.Join(b.TempDir(), "spool.db"), o)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			recs := benchLoad{100, 10}.records(b.N)
			for i := 0; i < len(recs); i += 4096 {
				if err := s.Append(context.Background(), recs[i:min(i+4096, len(recs))]); err != nil {
					b.Fatal(err)
				}
			}
			e := benchEngine(b, s)
			b.ResetTimer()
			cpu := cpuTime()
			drain(b, e, uint64(b.N))
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "readings/s")
			b.ReportMetric(float64(b.N)/(cpuTime()-cpu).Seconds(), "readings/cpu-s")
		})
	}
}

func benchEngine(b *testing.B, log Log) *Engine {
	e, err := NewEngine(log, EngineOptions{Consumer: testConsumer, Clock: nowFunc(func() time.Time { return t0.Add(time.Hour) })})
	if err != nil {
		b.Fatal(err)
	}
	if err := e.recover(); err != nil {
		b.Fatal(err)
	}
	return e
}

// drain runs engine steps on the calling goroutine until n records are read.
func drain(b *testing.B, e *Engine, n uint64) {
	for e.pos < n {
		if _, err := e.step(); err != nil {
			b.Fatal(err)
		}
	}
}

// cpuTime returns the CPU time (user + system) of this process so far: on a
// shared machine readings per CPU-second vary far less than per second.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ReadFor reads as ReadAfter; the fake does no drop accounting.
func (m *memLog) ReadFor(_, stream string, after uint64, max int) (spool.Batch, error) {
	return m.ReadAfter(stream, after, max)
}
