package spool

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Benchmarks of the spool. fsync is on (NoSync false) in all of
// them. A "call" is one Append call; -per sets how many ~150-byte records
// it carries (the MQTT intake hands over what arrived since its last call).

const benchValueLen = 150

func benchRecords(n, worker int) []Record {
	rs := make([]Record, n)
	for i := range rs {
		v := make([]byte, benchValueLen)
		for j := range v {
			v[j] = byte('a' + (i+j)%26)
		}
		rs[i] = Record{Stream: "raw", Key: fmt.Sprintf("generator%d", worker*10+i%10), Time: time.Now().UnixNano(), Value: v}
	}
	return rs
}

func openBench(b *testing.B, o Options) *Spool {
	b.Helper()
	s, err := Open(filepath.Join(b.TempDir(), "spool.db"), o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// BenchmarkAppendGroupCommit: 8 concurrent appenders, fsync on. b.N counts
// records.
func BenchmarkAppendGroupCommit(b *testing.B) {
	for _, per := range []int{1, 16, 64, 256} {
		b.Run(fmt.Sprintf("appenders=8/records-per-call=%d", per), func(b *testing.B) {
			benchAppend(b, 8, per, 0)
		})
	}
}

func benchAppend(b *testing.B, workers, per int, delay time.Duration) {
	s := openBench(b, Options{CommitMaxDelay: delay})
	var next atomic.Int64
	lat := make([][]time.Duration, workers)
	var wg sync.WaitGroup
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			batch := benchRecords(per, w)
			for next.Add(int64(per)) <= int64(b.N)+int64(per)-1 {
				t0 := time.Now()
				if err := s.Append(context.Background(), batch); err != nil {
					b.Error(err)
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed, cpu := time.Since(start), cpuTime()-cpu0
	b.StopTimer()
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-us/record")
	reportAppend(b, s, elapsed, slices.Concat(lat...))
}

// cpuTime returns the CPU time (user+system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportAppend(b *testing.B, s *Spool, elapsed time.Duration, lat []time.Duration) {
	st := s.Stats()
	n := float64(st.Streams["raw"].Records)
	slices.Sort(lat)
	p99 := lat[min(len(lat)-1, len(lat)*99/100)]
	commits := metricValue(s.m.commits)
	sec := elapsed.Seconds()
	b.ReportMetric(n/sec, "records/s")
	b.ReportMetric(float64(st.LogicalBytes)/sec/1e6, "MB/s")
	b.ReportMetric(2*commits/sec, "fsyncs/s")
	b.ReportMetric(n/commits, "records/commit")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(st.LogicalBytes)/n, "bytes/record")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkDrainReadAck: one consumer reads batches and acknowledges each
// (the ack deletes the records: Consumers lists it). b.N counts records.
// Auto compaction is off here (it is measured by BenchmarkFileOverhead).
func BenchmarkDrainReadAck(b *testing.B) {
	for _, batch := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			s := openBench(b, Options{Consumers: map[string][]string{"raw": {"sink"}}})
			s.autoCompactMinFile.Store(1 << 62)
			fillBench(b, s, b.N)
			b.ResetTimer()
			var read, ack time.Duration
			done := 0
			for done < b.N {
				t0 := time.Now()
				bt, err := s.Read("sink", "raw", batch)
				if err != nil || len(bt.Records) == 0 {
					b.Fatalf("read: %v (%d of %d)", err, done, b.N)
				}
				t1 := time.Now()
				if err := s.Ack("sink", "raw", bt.Last(0)); err != nil {
					b.Fatal(err)
				}
				read, ack = read+t1.Sub(t0), ack+time.Since(t1)
				done += len(bt.Records)
			}
			b.StopTimer()
			if r := s.Stats().Streams["raw"].Records; r != 0 {
				b.Fatalf("%d records left after drain", r)
			}
			sec := (read + ack).Seconds()
			b.ReportMetric(float64(done)/sec, "records/s")
			b.ReportMetric(float64(done)*float64(logicalSize(benchValueLen+35))/sec/1e6, "MB/s")
			b.ReportMetric(float64(done)/read.Seconds(), "read-records/s")
			b.ReportMetric(float64(done)/ack.Seconds(), "ack-records/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}

func fillBench(b *testing.B, s *Spool, n int) {
	b.Helper()
	for n > 0 {
		k := min(n, 4000)
		if err := s.Append(context.Background(), benchRecords(k, 0)); err != nil {
			b.Fatal(err)
		}
		n -= k
	}
}

// BenchmarkFileOverhead: fill, drain half, fill again (reusing freed
// pages), compact; reports file bytes per logical byte held.
func BenchmarkFileOverhead(b *testing.B) {
	for i := 0; i < b.N; i++ {
		s := openBench(b, Options{Consumers: map[string][]string{"raw": {"sink"}}})
		const n = 200000
		fillBench(b, s, n)
		before := s.fileSize()
		if err := s.Ack("sink", "raw", n/2); err != nil {
			b.Fatal(err)
		}
		fillBench(b, s, n/4)
		if err := s.Compact(); err != nil {
			b.Fatal(err)
		}
		st := s.Stats()
		fi, _ := os.Stat(s.Path())
		b.ReportMetric(float64(fi.Size())/float64(st.LogicalBytes), "file/logical")
		b.ReportMetric(float64(before)/float64(n), "file-bytes/record-before")
		b.ReportMetric(float64(fi.Size())/float64(st.Streams["raw"].Records), "file-bytes/record")
		b.ReportMetric(float64(st.LogicalBytes)/float64(st.Streams["raw"].Records), "bytes/record")
	}
}
