package spool

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
)

// The per-consumer Dropped counter must equal the records the consumer
// never got: records it was handed (read, not yet acknowledged) and then
// delivers are not lost, whatever the cap did to them meanwhile.

// capOf10 opens a spool whose cap holds 10 records of 100 bytes, with one
// consumer "fwd" on raw.
func capOf10(t *testing.T, path string) *Spool {
	t.Helper()
	return openTest(t, path, Options{MaxBytes: 10*recSize(t, 100) + 50, ReserveBytes: 1,
		Consumers: map[string][]string{"raw": {"fwd"}}})
}

// sink records what a consumer delivered.
type sink map[uint64]bool

func (k sink) take(b Batch) {
	for _, r := range b.Records {
		k[r.Seq] = true
	}
}

func consumerDropped(s *Spool, consumer string) uint64 {
	for _, c := range s.Stats().Consumers {
		if c.Consumer == consumer {
			return c.Dropped
		}
	}
	return 0
}

func readFor(t *testing.T, s *Spool, after uint64, n int) Batch {
	t.Helper()
	b, err := s.ReadFor("fwd", "raw", after, n)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDroppedWhileInFlightThenDeliveredIsNotCounted(t *testing.T) {
	s := capOf10(t, "")
	mustAppend(t, s, recs("raw", 10, 100))
	got := sink{}
	b := readFor(t, s, 0, 4) // 1..4 in flight
	mustAppend(t, s, recs("raw", 5, 100))
	if st := s.Stats().Streams["raw"]; st.Dropped != 5 || st.FirstSeq != 6 {
		t.Fatalf("cap did not drop 1..5: %+v", st)
	}
	got.take(b) // delivered after the drop
	if err := s.Ack("fwd", "raw", b.Last(0)); err != nil {
		t.Fatal(err)
	}
	b = readFor(t, s, 4, 100)
	if b.Skipped != 1 {
		t.Fatalf("gap of %d after 4, want 1 (seq 5)", b.Skipped)
	}
	got.take(b)
	if err := s.Ack("fwd", "raw", b.Last(4)); err != nil {
		t.Fatal(err)
	}
	if never := 15 - uint64(len(got)); consumerDropped(s, "fwd") != never || never != 1 {
		t.Fatalf("consumer dropped %d, never got %d", consumerDropped(s, "fwd"), never)
	}
	if v := metricValue(s.m.consDropped); v != 1 {
		t.Fatalf("per-consumer metric %v, want 1", v)
	}
}

func TestHandedThenReReadPastIsCounted(t *testing.T) {
	// A send fails after the drop: the consumer reads again from its
	// cursor, gets the gap, and never delivers 1..4.
	s := capOf10(t, "")
	mustAppend(t, s, recs("raw", 10, 100))
	readFor(t, s, 0, 4)
	mustAppend(t, s, recs("raw", 5, 100))
	got := sink{}
	b := readFor(t, s, 0, 100)
	if b.Skipped != 5 {
		t.Fatalf("gap %d, want 5", b.Skipped)
	}
	got.take(b)
	if err := s.Ack("fwd", "raw", b.Last(0)); err != nil {
		t.Fatal(err)
	}
	if never := 15 - uint64(len(got)); consumerDropped(s, "fwd") != never {
		t.Fatalf("consumer dropped %d, never got %d", consumerDropped(s, "fwd"), never)
	}
}

func TestHandedNotAckedAtCloseIsCounted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	s := capOf10(t, path)
	mustAppend(t, s, recs("raw", 10, 100))
	readFor(t, s, 0, 4)
	mustAppend(t, s, recs("raw", 5, 100))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = capOf10(t, path)
	if d := consumerDropped(s, "fwd"); d != 5 {
		t.Fatalf("after close and reopen: consumer dropped %d, want 5", d)
	}
}

func TestDroppedCountEqualsNeverDeliveredUnderLoad(t *testing.T) {
	// A consumer reading ahead of its acknowledgements while an appender
	// keeps the spool over its cap.
	const total = 3000
	s := capOf10(t, "")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < total/10; i++ {
			if err := s.Append(context.Background(), recs("raw", 10, 100)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	got := sink{}
	var mu sync.Mutex
	var pos uint64
	for {
		b := readFor(t, s, pos, 7)
		mu.Lock()
		got.take(b)
		mu.Unlock()
		pos = b.Last(pos)
		if err := s.Ack("fwd", "raw", pos); err != nil {
			t.Fatal(err)
		}
		select {
		case <-done:
			if pos == total {
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				checkClosedAccounting(t, s, total, uint64(len(got)))
				return
			}
		default:
		}
	}
}

func checkClosedAccounting(t *testing.T, s *Spool, total, delivered uint64) {
	t.Helper()
	s2, err := OpenReadOnly(s.Path(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	st := s2.Stats()
	d := consumerDropped(s2, "fwd")
	if d != total-delivered {
		t.Fatalf("consumer dropped %d, never delivered %d (stream dropped %d)", d, total-delivered, st.Streams["raw"].Dropped)
	}
	if st.Streams["raw"].Dropped < d || d == 0 {
		t.Fatalf("stream dropped %d, consumer %d: the test did not exercise the cap", st.Streams["raw"].Dropped, d)
	}
	t.Logf("stream dropped %d, delivered after a drop %d", st.Streams["raw"].Dropped, st.Streams["raw"].Dropped-d)
}
