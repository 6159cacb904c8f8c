package spool

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// recSize is the logical size of a record made by recs(stream, 1, n).
func recSize(t *testing.T, valueLen int) int64 {
	t.Helper()
	r := recs("raw", 1, valueLen)[0]
	return logicalSize(recordLen(&r))
}

func TestAckedByAllConsumersIsDeleted(t *testing.T) {
	s := openTest(t, "", Options{Consumers: map[string][]string{"raw": {"kafka", "influx"}}})
	mustAppend(t, s, recs("raw", 10, 10))
	if err := s.Ack("kafka", "raw", 6); err != nil {
		t.Fatal(err)
	}
	if got := s.Stats().Streams["raw"].Records; got != 10 {
		t.Fatalf("after one consumer acked: %d records, want 10", got)
	}
	if err := s.Ack("influx", "raw", 4); err != nil {
		t.Fatal(err)
	}
	st := s.Stats().Streams["raw"]
	if st.Records != 6 || st.FirstSeq != 5 || st.LastSeq != 10 || st.Dropped != 0 {
		t.Fatalf("after both acked: %+v", st)
	}
	b, _ := s.Read("kafka", "raw", 100)
	if got := seqs(b); len(got) != 4 || got[0] != 7 || b.Skipped != 0 {
		t.Fatalf("kafka reads %v skipped %d", got, b.Skipped)
	}
	if want := st.Bytes; want != 6*recSize(t, 10) {
		t.Fatalf("bytes %d, want %d", want, 6*recSize(t, 10))
	}
}

func TestNilConsumersKeepsRecords(t *testing.T) {
	s := openTest(t, "", Options{})
	mustAppend(t, s, recs("raw", 5, 10))
	if err := s.Ack("any", "raw", 5); err != nil {
		t.Fatal(err)
	}
	if got := s.Stats().Streams["raw"].Records; got != 5 {
		t.Fatalf("records %d, want 5 (no consumers configured)", got)
	}
}

func TestUnlistedCursorKeptAsOrphan(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s := openTest(t, path, Options{Consumers: map[string][]string{"raw": {"a", "old"}}})
	mustAppend(t, s, recs("raw", 5, 10))
	_ = s.Ack("a", "raw", 3)
	_ = s.Ack("old", "raw", 1)
	_ = s.Close()
	var logs testLogger
	reg := prometheus.NewRegistry()
	s2 := openTest(t, path, Options{Consumers: map[string][]string{"raw": {"a"}}, Logger: logs.logger(), Registerer: reg})
	if seq, _, _ := s2.Cursor("old", "raw"); seq != 1 {
		t.Fatalf("cursor of the unconfigured consumer at %d, want 1 (kept)", seq)
	}
	// The orphan holds nothing back: a's cursor alone decides, records
	// 1..3 are deleted at open, and 2..3 count as lost to the orphan.
	st := s2.Stats()
	if r := st.Streams["raw"]; r.Records != 2 || r.FirstSeq != 4 {
		t.Fatalf("after open: %+v", r)
	}
	want := []ConsumerStats{{Consumer: "a", Stream: "raw", Cursor: 3, LagRecords: 2},
		{Consumer: "old", Stream: "raw", Cursor: 1, LagRecords: 4, Dropped: 2, Orphan: true}}
	for i := range want {
		want[i].LagSeconds = st.Consumers[i].LagSeconds
	}
	if !reflect.DeepEqual(st.Consumers, want) {
		t.Fatalf("consumers %+v, want %+v", st.Consumers, want)
	}
	if n := logs.count("kept as an orphan"); n != 1 {
		t.Fatalf("%d orphan warnings at open, want 1", n)
	}
	if got := gaugeValue(t, reg, "edgespool_spool_orphan_cursors"); got != 1 {
		t.Fatalf("orphan gauge %v", got)
	}
	if _, err := s2.RemoveConsumer("a"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("removing a configured consumer: %v", err)
	}
	if _, err := s2.RemoveConsumer("nobody"); !errors.Is(err, ErrNoConsumer) {
		t.Fatalf("removing an unknown consumer: %v", err)
	}
	if streams, err := s2.RemoveConsumer("old"); err != nil || !reflect.DeepEqual(streams, []string{"raw"}) {
		t.Fatalf("remove: %v %v", streams, err)
	}
	if got := gaugeValue(t, reg, "edgespool_spool_orphan_cursors"); got != 0 {
		t.Fatalf("orphan gauge %v after removal", got)
	}
	_ = s2.Close()
	s3 := openTest(t, path, Options{Consumers: map[string][]string{"raw": {"a"}}})
	if st := s3.Stats(); len(st.Consumers) != 1 || st.Consumers[0].Consumer != "a" {
		t.Fatalf("after removal and reopen: %+v", st.Consumers)
	}
}

func TestOrphanDoesNotHoldTheCap(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s := openTest(t, path, Options{Consumers: map[string][]string{"raw": {"gone"}}})
	mustAppend(t, s, recs("raw", 1, 10))
	_ = s.Ack("gone", "raw", 1)
	_ = s.Close()
	size := recSize(t, 100)
	s = openTest(t, path, Options{MaxBytes: 10 * size, Consumers: map[string][]string{"raw": {"new"}}})
	for i := 0; i < 30; i++ {
		mustAppend(t, s, recs("raw", 1, 100))
	}
	st := s.Stats()
	if st.LogicalBytes > 10*size {
		t.Fatalf("%d bytes held over a cap of %d", st.LogicalBytes, 10*size)
	}
	for _, c := range st.Consumers {
		if c.Consumer == "gone" && (!c.Orphan || c.Dropped != st.Streams["raw"].Dropped) {
			t.Fatalf("orphan %+v, stream dropped %d", c, st.Streams["raw"].Dropped)
		}
	}
}

// gaugeValue reads one unlabelled gauge from a registry.
func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s not exported", name)
	return 0
}

func TestDropOldestAtCap(t *testing.T) {
	var logs testLogger
	reg := prometheus.NewRegistry()
	size := recSize(t, 100)
	s := openTest(t, "", Options{MaxBytes: 100 * size, ReserveBytes: 10 * size, Logger: logs.logger(), Registerer: reg})
	for i := 0; i < 20; i++ {
		mustAppend(t, s, recs("raw", 10, 100))
	}
	st := s.Stats()
	raw := st.Streams["raw"]
	// Raw may use MaxBytes - ReserveBytes = 90 records.
	if raw.Records != 90 || raw.Dropped != 110 || raw.FirstSeq != 111 || raw.LastSeq != 200 {
		t.Fatalf("raw at cap: %+v", raw)
	}
	if st.LogicalBytes != 90*size {
		t.Fatalf("logical %d, want %d", st.LogicalBytes, 90*size)
	}
	if n := logs.count("dropping oldest raw records"); n != 1 {
		t.Fatalf("drop logged %d times, want once", n)
	}
	if v := metricValue(s.m.dropped.WithLabelValues("raw", dropCap)); v != 110 {
		t.Fatalf("dropped metric %v", v)
	}
}

func TestConsumerLearnsDroppedGap(t *testing.T) {
	size := recSize(t, 100)
	s := openTest(t, "", Options{MaxBytes: 20 * size, ReserveBytes: 1})
	mustAppend(t, s, recs("raw", 10, 100))
	_ = s.Ack("sink", "raw", 3)
	mustAppend(t, s, recs("raw", 25, 100)) // 35 records, cap ~20: 1..15 dropped
	b, err := s.Read("sink", "raw", 5)
	if err != nil {
		t.Fatal(err)
	}
	first := s.Stats().Streams["raw"].FirstSeq
	if len(b.Records) == 0 || b.Records[0].Seq != first || b.Skipped != first-4 {
		t.Fatalf("read after drop: first %d skipped %d, stream first %d", b.Records[0].Seq, b.Skipped, first)
	}
	var cons ConsumerStats
	for _, c := range s.Stats().Consumers {
		if c.Consumer == "sink" {
			cons = c
		}
	}
	if cons.Dropped != first-4 {
		t.Fatalf("consumer dropped %d, want %d", cons.Dropped, first-4)
	}
}

func TestConfiguredConsumerWithoutCursorCountsDrops(t *testing.T) {
	size := recSize(t, 100)
	s := openTest(t, "", Options{MaxBytes: 20 * size, ReserveBytes: 1, Consumers: map[string][]string{"raw": {"late"}}})
	mustAppend(t, s, recs("raw", 30, 100))
	cs := s.Stats().Consumers
	if len(cs) != 1 || cs[0].Consumer != "late" || cs[0].Dropped != 11 || cs[0].Cursor != 0 {
		t.Fatalf("consumers %+v", cs)
	}
	b, _ := s.Read("late", "raw", 1)
	if b.Skipped != 11 { // 19 records fit under MaxBytes-ReserveBytes
		t.Fatalf("skipped %d", b.Skipped)
	}
}

func TestEmptyBatchReportsTrailingGap(t *testing.T) {
	size := recSize(t, 100)
	s := openTest(t, "", Options{MaxBytes: 10 * size, ReserveBytes: 1, Priority: map[string]int{"dl": -1}})
	mustAppend(t, s, recs("dl", 5, 100))
	mustAppend(t, s, recs("raw", 10, 100)) // dl (priority -1) is dropped entirely
	b, _ := s.Read("c", "dl", 10)
	if len(b.Records) != 0 || b.Skipped != 5 || b.Last(0) != 5 {
		t.Fatalf("empty batch %+v", b)
	}
}

func TestPriorityDropsLowestFirstAndReserveHolds(t *testing.T) {
	size := recSize(t, 100)
	s := openTest(t, "", Options{MaxBytes: 100 * size, ReserveBytes: 20 * size})
	mustAppend(t, s, recs("downsampled", 15, 100))
	mustAppend(t, s, recs("deadletter", 30, 100))
	mustAppend(t, s, recs("raw", 40, 100))
	// 85 records: under the cap, nothing dropped. Low streams hold 70 of 80.
	if st := s.Stats(); st.Streams["deadletter"].Dropped+st.Streams["raw"].Dropped != 0 {
		t.Fatalf("dropped below cap: %+v", st.Streams)
	}
	mustAppend(t, s, recs("raw", 30, 100))
	st := s.Stats().Streams
	// Low streams may hold 80: 20 over, all from deadletter (lowest priority).
	if st["deadletter"].Records != 10 || st["deadletter"].Dropped != 20 || st["raw"].Records != 70 || st["raw"].Dropped != 0 {
		t.Fatalf("deadletter not dropped first: %+v", st)
	}
	mustAppend(t, s, recs("raw", 20, 100))
	st = s.Stats().Streams
	if st["deadletter"].Records != 0 || st["raw"].Records != 80 || st["raw"].Dropped != 10 || st["downsampled"].Records != 15 {
		t.Fatalf("raw must stay within its budget: %+v", st)
	}
	// Downsampled may grow into the reserve and beyond, taking space from raw.
	mustAppend(t, s, recs("downsampled", 15, 100))
	st = s.Stats().Streams
	if st["downsampled"].Records != 30 || st["downsampled"].Dropped != 0 || st["raw"].Records != 70 {
		t.Fatalf("downsampled must go last: %+v", st)
	}
}

func TestRejectNew(t *testing.T) {
	var logs testLogger
	size := recSize(t, 100)
	s := openTest(t, "", Options{MaxBytes: 20 * size, ReserveBytes: 5 * size, Overflow: RejectNew,
		Consumers: map[string][]string{"raw": {"sink"}}, Logger: logs.logger()})
	mustAppend(t, s, recs("raw", 15, 100))
	err := s.Append(context.Background(), recs("raw", 1, 100))
	if !errors.Is(err, ErrFull) {
		t.Fatalf("append over budget: %v", err)
	}
	if st := s.Stats().Streams["raw"]; st.Records != 15 || st.Dropped != 0 || st.LastSeq != 15 {
		t.Fatalf("RejectNew dropped or appended: %+v", st)
	}
	// The reserve is still there for downsampled, and a Commit that does not fit fails whole.
	mustAppend(t, s, recs("downsampled", 5, 100))
	err = s.Commit("ds", "raw", 15, []byte("m"), recs("downsampled", 1, 100))
	if !errors.Is(err, ErrFull) {
		t.Fatalf("commit over cap: %v", err)
	}
	if seq, meta, _ := s.Cursor("ds", "raw"); seq != 0 || meta != nil {
		t.Fatalf("failed commit moved the cursor to %d %q", seq, meta)
	}
	if logs.count("rejecting new records") != 1 {
		t.Fatal("full state not logged once")
	}
	if err := s.Ack("sink", "raw", 10); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, recs("raw", 10, 100))
	if logs.count("recovered") == 0 {
		t.Fatal("recovery not logged")
	}
}

func TestAgeCap(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	s := openTest(t, "", Options{MaxAge: time.Hour, Now: clock})
	mustAppend(t, s, recs("raw", 5, 10))
	advance(30 * time.Minute)
	mustAppend(t, s, recs("raw", 5, 10))
	_ = s.Ack("c", "raw", 2)
	advance(40 * time.Minute)
	mustAppend(t, s, recs("raw", 1, 10)) // first five are now 70 min old
	st := s.Stats().Streams["raw"]
	if st.Records != 6 || st.FirstSeq != 6 || st.Dropped != 5 {
		t.Fatalf("age cap: %+v", st)
	}
	if d := metricValue(s.m.dropped.WithLabelValues("raw", dropAge)); d != 5 {
		t.Fatalf("age drop metric %v", d)
	}
	if c := s.Stats().Consumers[0]; c.Dropped != 3 || c.LagSeconds != 40*60 {
		t.Fatalf("consumer after age drop: %+v", c)
	}
	// With no appends, the maintenance pass applies the age cap too.
	advance(2 * time.Hour)
	if err := s.submit(context.Background(), &op{kind: opMaint}); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats().Streams["raw"]; st.Records != 0 || st.LastSeq != 11 {
		t.Fatalf("maintenance age cap: %+v", st)
	}
}
