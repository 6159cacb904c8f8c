package spool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// testLogger collects log lines so tests can assert on state changes.
type testLogger struct {
	mu    sync.Mutex
	lines []string
}

func (l *testLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, string(p))
	return len(p), nil
}

func (l *testLogger) count(sub string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.lines {
		if bytes.Contains([]byte(s), []byte(sub)) {
			n++
		}
	}
	return n
}

func (l *testLogger) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func openTest(t testing.TB, path string, o Options) *Spool {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "spool.db")
	}
	o.NoSync = true
	s, err := Open(path, o)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func recs(stream string, n int, size int) []Record {
	out := make([]Record, n)
	for i := range out {
		v := bytes.Repeat([]byte{byte(i)}, size)
		out[i] = Record{Stream: stream, Key: fmt.Sprintf("gen%d", i%7), Time: int64(1000 + i), Value: v}
	}
	return out
}

func mustAppend(t testing.TB, s *Spool, rs []Record) []Record {
	t.Helper()
	if err := s.Append(context.Background(), rs); err != nil {
		t.Fatalf("append: %v", err)
	}
	return rs
}

func seqs(b Batch) []uint64 {
	out := make([]uint64, len(b.Records))
	for i, r := range b.Records {
		out[i] = r.Seq
	}
	return out
}

func TestAppendAssignsIncreasingSeqPerStream(t *testing.T) {
	s := openTest(t, "", Options{})
	a := mustAppend(t, s, append(recs("raw", 3, 10), recs("deadletter", 2, 5)...))
	want := []uint64{1, 2, 3, 1, 2}
	for i, r := range a {
		if r.Seq != want[i] {
			t.Fatalf("record %d: seq %d, want %d", i, r.Seq, want[i])
		}
	}
	b := mustAppend(t, s, recs("raw", 2, 10))
	if b[0].Seq != 4 || b[1].Seq != 5 {
		t.Fatalf("second append seqs %d,%d, want 4,5", b[0].Seq, b[1].Seq)
	}
}

func TestReadReturnsWhatWasAppended(t *testing.T) {
	s := openTest(t, "", Options{})
	in := mustAppend(t, s, recs("raw", 50, 100))
	b, err := s.Read("sink", "raw", 20)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Records) != 20 || b.Skipped != 0 {
		t.Fatalf("got %d records, skipped %d", len(b.Records), b.Skipped)
	}
	for i, r := range b.Records {
		w := in[i]
		if r.Seq != w.Seq || r.Key != w.Key || r.Time != w.Time || !bytes.Equal(r.Value, w.Value) || r.Stream != "raw" {
			t.Fatalf("record %d: got %+v want %+v", i, r, w)
		}
	}
	b2, _ := s.ReadAfter("raw", 45, 100)
	if got := seqs(b2); len(got) != 5 || got[0] != 46 {
		t.Fatalf("ReadAfter 45: %v", got)
	}
	empty, _ := s.ReadAfter("nostream", 0, 10)
	if len(empty.Records) != 0 || empty.Skipped != 0 {
		t.Fatalf("unknown stream: %+v", empty)
	}
}

func TestAckPersistsAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s := openTest(t, path, Options{})
	mustAppend(t, s, recs("raw", 10, 10))
	if err := s.Ack("sink", "raw", 4); err != nil {
		t.Fatal(err)
	}
	if err := s.Ack("sink", "raw", 2); err != nil { // backwards: no-op
		t.Fatal(err)
	}
	if err := s.Ack("sink", "raw", 11); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("ack beyond last: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openTest(t, path, Options{})
	seq, _, err := s2.Cursor("sink", "raw")
	if err != nil || seq != 4 {
		t.Fatalf("cursor after reopen %d %v, want 4", seq, err)
	}
	b, _ := s2.Read("sink", "raw", 100)
	if got := seqs(b); len(got) != 6 || got[0] != 5 {
		t.Fatalf("read after reopen: %v", got)
	}
	more := mustAppend(t, s2, recs("raw", 1, 10))
	if more[0].Seq != 11 {
		t.Fatalf("seq after reopen %d, want 11", more[0].Seq)
	}
}

func TestClosedSpool(t *testing.T) {
	s := openTest(t, "", Options{})
	_ = s.Close()
	if err := s.Append(context.Background(), recs("raw", 1, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	if _, err := s.Read("a", "raw", 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second close: %v", err)
	}
	select {
	case <-s.Notify("raw"):
	case <-time.After(time.Second):
		t.Fatal("notify after close does not fire")
	}
}
