package spool

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"
)

func TestCommitIsAtomic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s := openTest(t, path, Options{})
	mustAppend(t, s, recs("raw", 10, 10))
	derived := recs("downsampled", 3, 20)
	if err := s.Commit("ds", "raw", 6, []byte("state-6"), derived); err != nil {
		t.Fatal(err)
	}
	if derived[0].Seq != 1 || derived[2].Seq != 3 {
		t.Fatalf("derived seqs not filled in: %+v", derived)
	}
	cases := []struct {
		name   string
		ack    uint64
		wantIs error
	}{
		{"beyond last", 11, ErrOutOfRange},
		{"backwards", 5, ErrOutOfRange},
	}
	for _, c := range cases {
		err := s.Commit("ds", "raw", c.ack, []byte("bad"), recs("downsampled", 2, 20))
		if !errors.Is(err, c.wantIs) {
			t.Fatalf("%s: %v", c.name, err)
		}
	}
	// Same position with new meta is allowed.
	if err := s.Commit("ds", "raw", 6, []byte("state-6b"), nil); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	s2 := openTest(t, path, Options{})
	seq, meta, _ := s2.Cursor("ds", "raw")
	if seq != 6 || string(meta) != "state-6b" {
		t.Fatalf("cursor %d %q", seq, meta)
	}
	if st := s2.Stats().Streams["downsampled"]; st.Records != 3 || st.LastSeq != 3 {
		t.Fatalf("failed commits left derived records: %+v", st)
	}
}

func TestCommitFailsWholeInsideGroup(t *testing.T) {
	// Bad and good ops in one transaction: only the bad one fails.
	s := openTest(t, "", Options{CommitMaxDelay: 20 * time.Millisecond})
	mustAppend(t, s, recs("raw", 5, 10))
	var wg sync.WaitGroup
	errs := make([]error, 3)
	wg.Add(3)
	go func() { defer wg.Done(); errs[0] = s.Commit("ds", "raw", 99, nil, recs("downsampled", 1, 5)) }()
	go func() { defer wg.Done(); errs[1] = s.Append(context.Background(), recs("raw", 2, 10)) }()
	go func() { defer wg.Done(); errs[2] = s.Ack("k", "raw", 3) }()
	wg.Wait()
	if !errors.Is(errs[0], ErrOutOfRange) || errs[1] != nil || errs[2] != nil {
		t.Fatalf("errors %v", errs)
	}
	if st := s.Stats().Streams; st["downsampled"].LastSeq != 0 || st["raw"].LastSeq != 7 {
		t.Fatalf("state %+v", st)
	}
}

func TestNotify(t *testing.T) {
	s := openTest(t, "", Options{})
	raw, other := s.Notify("raw"), s.Notify("other")
	mustAppend(t, s, recs("raw", 1, 1))
	select {
	case <-raw:
	case <-time.After(time.Second):
		t.Fatal("raw notify not fired")
	}
	select {
	case <-other:
		t.Fatal("other notify fired")
	default:
	}
	if next := s.Notify("raw"); next == raw {
		t.Fatal("closed channel handed out again")
	}
}

func TestConcurrentAppendersGroupCommit(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := openTest(t, "", Options{Registerer: reg})
	const workers, calls, per = 8, 50, 10
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[uint64]bool{}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := 0; c < calls; c++ {
				rs := recs("raw", per, 50)
				if err := s.Append(context.Background(), rs); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for i, r := range rs {
					if seen[r.Seq] || (i > 0 && r.Seq != rs[i-1].Seq+1) {
						t.Errorf("seq %d duplicate or call not contiguous", r.Seq)
					}
					seen[r.Seq] = true
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	n := workers * calls * per
	if len(seen) != n || !seen[uint64(n)] {
		t.Fatalf("%d distinct seqs, want 1..%d", len(seen), n)
	}
	commits := metricValue(s.m.commits)
	if commits >= workers*calls {
		t.Fatalf("%v commits for %d calls: no grouping", commits, workers*calls)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range families {
		names[f.GetName()] = true
	}
	for _, want := range []string{"edgespool_spool_appended_records_total", "edgespool_spool_commits_total",
		"edgespool_spool_commit_duration_seconds", "edgespool_spool_stream_records", "edgespool_spool_file_bytes"} {
		if !names[want] {
			t.Errorf("metric %s not registered", want)
		}
	}
}

func TestCommitMaxRecordsBoundsATransaction(t *testing.T) {
	s := openTest(t, "", Options{CommitMaxRecords: 10, CommitMaxDelay: 30 * time.Millisecond})
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); mustAppend(t, s, recs("raw", 5, 10)) }()
	}
	wg.Wait()
	if c := metricValue(s.m.commits); c < 3 {
		t.Fatalf("%v commits for 30 records at 10 per commit", c)
	}
}

func TestAppendContextCanceledBeforeCommit(t *testing.T) {
	s := openTest(t, "", Options{CommitMaxDelay: 200 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Append(ctx, recs("raw", 3, 10))
	if err == nil {
		// The loop may have taken the op before the cancel was seen; then it is durable.
		if st := s.Stats().Streams["raw"]; st.Records != 3 {
			t.Fatalf("append returned nil but %d records", st.Records)
		}
		return
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
	time.Sleep(300 * time.Millisecond)
	if st := s.Stats().Streams["raw"]; st.Records != 0 {
		t.Fatalf("canceled append was written: %+v", st)
	}
}

func TestInvalidArguments(t *testing.T) {
	s := openTest(t, "", Options{MaxRecordBytes: 100})
	bad := []error{
		s.Append(context.Background(), []Record{{Stream: ""}}),
		s.Append(context.Background(), []Record{{Stream: "a\x00b"}}),
		s.Append(context.Background(), []Record{{Stream: strings.Repeat("x", 256)}}),
		s.Append(context.Background(), []Record{{Stream: "raw", Value: make([]byte, 200)}}),
		s.Ack("", "raw", 1),
		s.Commit("c", "", 1, nil, nil),
	}
	for i, err := range bad {
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("case %d: %v", i, err)
		}
	}
	if _, err := s.Read("c\x00", "raw", 1); !errors.Is(err, ErrInvalid) {
		t.Errorf("read: %v", err)
	}
}

func TestTrimFrontAfterPutsInSameTransaction(t *testing.T) {
	// Records appended and trimmed in one transaction (small stream, one
	// leaf): every record up to the limit must go, none beyond.
	for _, n := range []int{3, 40, 400} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			s := openTest(t, "", Options{})
			mustAppend(t, s, recs("raw", n, 30))
			upTo := uint64(n / 2)
			err := s.update(func(tx *bolt.Tx) error {
				w := s.newWtx(tx)
				rs := recs("raw", n, 30)
				if err := w.appendRecords(rs, encodeBatch(rs, w.now)); err != nil {
					return err
				}
				_, _, err := w.trimFront("raw", func(seq uint64, _ []byte) bool { return seq <= upTo }, nil)
				if err != nil {
					return err
				}
				w.publish()
				return w.writeStates()
			})
			if err != nil {
				t.Fatal(err)
			}
			var got []uint64
			if err := s.Scan("raw", 0, func(r Record) error { got = append(got, r.Seq); return nil }); err != nil {
				t.Fatal(err)
			}
			if len(got) != 2*n-int(upTo) || got[0] != upTo+1 {
				t.Fatalf("left %d records starting %d, want %d from %d", len(got), got[0], 2*n-int(upTo), upTo+1)
			}
			for i := 1; i < len(got); i++ {
				if got[i] != got[i-1]+1 {
					t.Fatalf("gap after %d", got[i-1])
				}
			}
		})
	}
}

func TestRegistererConflict(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := openTest(t, "", Options{Registerer: reg})
	if _, err := Open(filepath.Join(t.TempDir(), "b.db"), Options{Registerer: reg, NoSync: true}); err == nil {
		t.Fatal("second spool on one registry registered")
	}
	_ = s.Close()
	s2, err := Open(filepath.Join(t.TempDir(), "c.db"), Options{Registerer: reg, NoSync: true})
	if err != nil {
		t.Fatalf("registry not freed on close: %v", err)
	}
	_ = s2.Close()
}

func TestCloseFlushesPendingAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{NoSync: true, CommitMaxDelay: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var ok, closed atomic.Int64
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.Append(context.Background(), recs("raw", 10, 10))
			switch {
			case err == nil:
				ok.Add(10)
			case errors.Is(err, ErrClosed):
				closed.Add(10)
			default:
				t.Error(err)
			}
		}()
	}
	time.Sleep(10 * time.Millisecond) // appends wait in the commit delay
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	s2 := openTest(t, path, Options{})
	if got := s2.Stats().Streams["raw"].Records; int64(got) != ok.Load() || ok.Load() == 0 {
		t.Fatalf("%d records durable, %d acknowledged, %d refused", got, ok.Load(), closed.Load())
	}
}

func TestScanStopsOnErrorAndSkipsGaps(t *testing.T) {
	size := recSize(t, 10)
	s := openTest(t, "", Options{MaxBytes: 3000 * size, ReserveBytes: 1})
	for i := 0; i < 5; i++ {
		mustAppend(t, s, recs("raw", 1000, 10)) // 5000 records, oldest dropped
	}
	var n int
	var first uint64
	err := s.Scan("raw", 0, func(r Record) error {
		if first == 0 {
			first = r.Seq
		}
		n++
		return nil
	})
	if err != nil || uint64(n) != 5000-first+1 || n >= 5000 {
		t.Fatalf("scanned %d from %d: %v", n, first, err)
	}
	stop := errors.New("stop")
	n = 0
	err = s.Scan("raw", 0, func(Record) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("scan error %v after %d", err, n)
	}
}
