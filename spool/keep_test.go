package spool

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestKeepDeliveredKeepsTheNewestAcknowledged(t *testing.T) {
	s := openTest(t, "", Options{Consumers: map[string][]string{"raw": {"a", "b"}},
		KeepDelivered: map[string]uint64{"raw": 4}})
	mustAppend(t, s, recs("raw", 10, 10))
	mustAck(t, s, "a", 10)
	mustAck(t, s, "b", 8)
	if st := s.Stats().Streams["raw"]; st.Records != 4 || st.FirstSeq != 7 || st.Dropped != 0 {
		t.Fatalf("after acks up to 8: %+v, want the newest 4 (7-10)", st)
	}
	mustAck(t, s, "b", 10)
	mustAppend(t, s, recs("raw", 3, 10))
	mustAck(t, s, "a", 13)
	mustAck(t, s, "b", 13)
	st := s.Stats().Streams["raw"]
	if st.Records != 4 || st.FirstSeq != 10 || st.LastSeq != 13 || st.Dropped != 0 {
		t.Fatalf("after acks up to 13: %+v, want 10-13", st)
	}
	b, err := s.ReadAfter("raw", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if got := seqs(b); len(got) != 4 || got[0] != 10 {
		t.Fatalf("kept records %v, want 10-13", got)
	}
	if b, _ := s.Read("a", "raw", 100); len(b.Records) != 0 || b.Skipped != 0 {
		t.Fatalf("consumer a reads %v (skipped %d) past its cursor", seqs(b), b.Skipped)
	}
}

func TestCapReleasesDeliveredRecordsFirstAndUncounted(t *testing.T) {
	size := recSize(t, 100)
	// Raw may use MaxBytes - ReserveBytes = 15 records.
	s := openTest(t, "", Options{MaxBytes: 20 * size, ReserveBytes: 5 * size,
		Consumers: map[string][]string{"raw": {"sink"}}, KeepDelivered: map[string]uint64{"raw": 100}})
	mustAppend(t, s, recs("raw", 10, 100))
	mustAck(t, s, "sink", 10)
	mustAppend(t, s, recs("raw", 10, 100)) // 20: five delivered records go
	st := s.Stats()
	if raw := st.Streams["raw"]; raw.Records != 15 || raw.FirstSeq != 6 || raw.Dropped != 0 {
		t.Fatalf("after releasing delivered records: %+v, want 6-20 and none dropped", raw)
	}
	if c := st.Consumers[0]; c.Dropped != 0 {
		t.Fatalf("consumer counts %d dropped for delivered records", c.Dropped)
	}
	mustAppend(t, s, recs("raw", 10, 100)) // 25: the other five delivered, then five undelivered
	raw := s.Stats().Streams["raw"]
	if raw.Records != 15 || raw.FirstSeq != 16 || raw.Dropped != 5 {
		t.Fatalf("after dropping undelivered records: %+v, want 16-30 and 5 dropped", raw)
	}
	if d := metricValue(s.m.dropped.WithLabelValues("raw", dropCap)); d != 5 {
		t.Fatalf("dropped metric %v, want 5", d)
	}
	if c := s.Stats().Consumers[0]; c.Dropped != 5 {
		t.Fatalf("consumer dropped %d, want 5", c.Dropped)
	}
}

func TestRejectNewReleasesDeliveredRecords(t *testing.T) {
	size := recSize(t, 100)
	s := openTest(t, "", Options{MaxBytes: 20 * size, ReserveBytes: 5 * size, Overflow: RejectNew,
		Consumers: map[string][]string{"raw": {"sink"}}, KeepDelivered: map[string]uint64{"raw": 100}})
	mustAppend(t, s, recs("raw", 15, 100))
	mustAck(t, s, "sink", 15)
	mustAppend(t, s, recs("raw", 5, 100)) // fits once five delivered records are released
	if st := s.Stats().Streams["raw"]; st.Records != 15 || st.FirstSeq != 6 || st.Dropped != 0 {
		t.Fatalf("after the append: %+v", st)
	}
}

func TestAgeCapReleasesDeliveredRecordsUncounted(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := openTest(t, "", Options{MaxAge: time.Hour, Now: clock, Consumers: map[string][]string{"raw": {"c"}},
		KeepDelivered: map[string]uint64{"raw": 100}})
	mustAppend(t, s, recs("raw", 5, 10))
	mustAck(t, s, "c", 3)
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	if err := s.submit(context.Background(), &op{kind: opMaint}); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats().Streams["raw"]; st.Records != 0 || st.Dropped != 2 {
		t.Fatalf("age cap: %+v, want all gone and 2 dropped (the undelivered 4 and 5)", st)
	}
	if d := metricValue(s.m.dropped.WithLabelValues("raw", dropAge)); d != 2 {
		t.Fatalf("age drop metric %v, want 2", d)
	}
}

func mustAck(t *testing.T, s *Spool, consumer string, seq uint64) {
	t.Helper()
	if err := s.Ack(consumer, "raw", seq); err != nil {
		t.Fatal(err)
	}
}
