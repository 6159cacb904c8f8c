package spool

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// fill appends n records of valueLen bytes to stream in calls of 1000.
func fill(t testing.TB, s *Spool, stream string, n, valueLen int) {
	t.Helper()
	for n > 0 {
		k := min(n, 1000)
		if err := s.Append(context.Background(), recs(stream, k, valueLen)); err != nil {
			t.Fatal(err)
		}
		n -= k
	}
}

func TestCompactShrinksFileAndKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s := openTest(t, path, Options{Consumers: map[string][]string{"raw": {"sink"}}})
	fill(t, s, "raw", 60000, 150)
	full := fileSize(t, path)
	if err := s.Ack("sink", "raw", 59000); err != nil {
		t.Fatal(err)
	}
	if got := fileSize(t, path); got < full {
		t.Fatalf("file shrank without compaction: %d -> %d", full, got)
	}
	if err := s.Compact(); err != nil {
		t.Fatal(err)
	}
	after := fileSize(t, path)
	logical := s.Stats().LogicalBytes
	if after > full/10 || after > 2*logical+64<<10 {
		t.Fatalf("after compaction %d bytes (was %d, logical %d)", after, full, logical)
	}
	b, err := s.Read("sink", "raw", 2000)
	if err != nil || len(b.Records) != 1000 || b.Records[0].Seq != 59001 || b.Skipped != 0 {
		t.Fatalf("read after compaction: %d records %v", len(b.Records), err)
	}
	more := recs("raw", 1, 10)
	mustAppend(t, s, more)
	if more[0].Seq != 60001 {
		t.Fatalf("seq after compaction %d", more[0].Seq)
	}
	if metricValue(s.m.compactions) != 1 {
		t.Fatal("compaction not counted")
	}
}

func TestAutoCompaction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s := openTest(t, path, Options{Consumers: map[string][]string{"raw": {"sink"}}})
	fill(t, s, "raw", 30000, 150)
	full := fileSize(t, path)
	s.autoCompactMinFile.Store(1 << 20)
	s.autoCompactEvery.Store(0)
	if err := s.Ack("sink", "raw", 29990); err != nil {
		t.Fatal(err)
	}
	// The commit of the ack leaves the file sparse; the loop compacts after it.
	deadline := time.Now().Add(5 * time.Second)
	for metricValue(s.m.compactions) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if after := fileSize(t, path); after > full/10 {
		t.Fatalf("no auto compaction: %d -> %d", full, after)
	}
	mustAppend(t, s, recs("raw", 1, 10))
	if n := s.Stats().Streams["raw"].Records; n != 11 {
		t.Fatalf("records after auto compaction %d", n)
	}
}

func TestFillDrainCompactOverhead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s := openTest(t, path, Options{Consumers: map[string][]string{"raw": {"sink"}}})
	fill(t, s, "raw", 50000, 150)
	_ = s.Ack("sink", "raw", 25000)
	fill(t, s, "raw", 25000, 150) // reuses freed pages
	_ = s.Ack("sink", "raw", 50000)
	if err := s.Compact(); err != nil {
		t.Fatal(err)
	}
	logical := s.Stats().LogicalBytes
	size := fileSize(t, path)
	if ratio := float64(size) / float64(logical); ratio > 2 {
		t.Fatalf("file %d bytes for %d logical: %.2fx", size, logical, ratio)
	}
}

func TestFileBackstopHoldsTheFile(t *testing.T) {
	var logs testLogger
	s := openTest(t, "", Options{Logger: logs.logger()})
	s.backstop.Store(4 << 20)
	fill(t, s, "raw", 60000, 150) // ~11 MiB of records, cap 1 GiB
	st := s.Stats()
	if used := s.usedBytes.Load(); used > 5<<20 {
		t.Fatalf("bbolt uses %d bytes, backstop 4 MiB", used)
	}
	if st.Streams["raw"].Dropped == 0 || st.CapBytes >= st.LogicalBytes*2 {
		t.Fatalf("no drop at the backstop: %+v cap %d", st.Streams["raw"], st.CapBytes)
	}
	if n := logs.count("size backstop"); n != 1 {
		t.Fatalf("backstop logged %d times", n)
	}
	if st.Streams["raw"].LastSeq != 60000 {
		t.Fatalf("last seq %d", st.Streams["raw"].LastSeq)
	}
}
