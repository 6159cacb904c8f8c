package spool

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgespool/edgespool/spool/internal/boltpages"
)

// The corruption table: build a spool file, damage it in a named way, reopen
// it, and check that the spool comes up, keeps every record that survived
// on disk, never returns a wrong record, never reuses a sequence number,
// and counts what it lost.

const (
	corruptRaw   = 3000
	corruptAcked = 100
)

func corruptValue(stream string, seq uint64) []byte {
	v := fmt.Sprintf("%s-%08d-", stream, seq)
	return []byte(v + strings.Repeat("x", 150-len(v)))
}

// buildCorruptFixture writes raw records 1..3000 in three commits, a cursor
// at 100 (so 1..100 are deleted), and 20 downsampled records.
func buildCorruptFixture(t *testing.T, path string, o Options) {
	t.Helper()
	s, err := Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	for c := 0; c < 3; c++ {
		rs := make([]Record, corruptRaw/3)
		for i := range rs {
			seq := uint64(c*corruptRaw/3 + i + 1)
			rs[i] = Record{Stream: "raw", Key: "gen1", Time: int64(seq), Value: corruptValue("raw", seq)}
		}
		mustAppend(t, s, rs)
	}
	if err := s.Ack("sink", "raw", corruptAcked); err != nil {
		t.Fatal(err)
	}
	ds := make([]Record, 20)
	for i := range ds {
		ds[i] = Record{Stream: "downsampled", Key: "gen1", Value: corruptValue("downsampled", uint64(i+1))}
	}
	mustAppend(t, s, ds)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// layout maps the pages of a clean file: which raw seqs each leaf holds,
// and which pages are branches.
type layout struct {
	pageSize int64
	rawOn    map[uint64][]int64 // seq -> pages holding a copy
	branches []int64
	size     int64
	used     int64 // bytes up to the last page holding data
}

func readLayout(t *testing.T, path string) layout {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	l := layout{pageSize: int64(boltpages.PageSize(f)), rawOn: map[uint64][]int64{}, size: fi.Size()}
	buf := make([]byte, l.pageSize)
	for id := int64(2); (id+1)*l.pageSize <= l.size; id++ {
		if _, err := f.ReadAt(buf, id*l.pageSize); err != nil || boltpages.LE.Uint64(buf) != uint64(id) {
			continue
		}
		if f := boltpages.LE.Uint16(buf[8:]); f == 0x01 || f == boltpages.LeafPageFlag {
			l.used = (id + 1) * l.pageSize
		}
		switch boltpages.LE.Uint16(buf[8:]) {
		case 0x01:
			l.branches = append(l.branches, id)
		case boltpages.LeafPageFlag:
			boltpages.ParseLeaf(buf, 0, func(k, v []byte) {
				if seq, ok := keySeq(k); ok {
					if _, err := decodeRecord("raw", seq, v); err == nil {
						l.rawOn[seq] = append(l.rawOn[seq], id)
					}
				}
			})
		}
	}
	for seq := uint64(corruptAcked + 1); seq <= corruptRaw; seq++ {
		if len(l.rawOn[seq]) == 0 {
			t.Fatalf("clean file: raw %d not found on any page", seq)
		}
	}
	return l
}

// intact lists the live raw seqs with a copy on a page not in damaged and
// below cut.
func (l layout) intact(damaged map[int64]bool, cut int64) map[uint64]bool {
	out := map[uint64]bool{}
	for seq := uint64(corruptAcked + 1); seq <= corruptRaw; seq++ {
		for _, p := range l.rawOn[seq] {
			if !damaged[p] && (p+1)*l.pageSize <= cut {
				out[seq] = true
			}
		}
	}
	return out
}

func writeAt(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func garbage(n int64, seed int64) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

// pageOfSeq returns a page holding raw seq (the only copy if possible).
func (l layout) pageOfSeq(seq uint64) int64 {
	return l.rawOn[seq][len(l.rawOn[seq])-1]
}

type corruption struct {
	name string
	// damage breaks the file and returns the raw seqs that must survive.
	damage func(t *testing.T, path string, l layout) map[uint64]bool
	// salvaged: the file must have been moved aside.
	salvaged bool
	// keepsCursor: the sink cursor must read back exactly.
	keepsCursor bool
	// losesTail: the newest stream state may be gone with the tail, so new
	// sequence numbers need only stay above every cursor and kept record.
	losesTail bool
}

var corruptions = []corruption{
	{name: "truncated tail", salvaged: true, losesTail: true, damage: func(t *testing.T, path string, l layout) map[uint64]bool {
		cut := l.used * 6 / 10 / l.pageSize * l.pageSize
		if err := os.Truncate(path, cut); err != nil {
			t.Fatal(err)
		}
		return l.intact(nil, cut)
	}},
	{name: "garbage leaf page", salvaged: true, keepsCursor: true, damage: func(t *testing.T, path string, l layout) map[uint64]bool {
		p := l.pageOfSeq(1500)
		writeAt(t, path, p*l.pageSize, garbage(l.pageSize, 1))
		return l.intact(map[int64]bool{p: true}, l.size)
	}},
	{name: "garbage on every branch page", salvaged: true, keepsCursor: true, damage: func(t *testing.T, path string, l layout) map[uint64]bool {
		dmg := map[int64]bool{}
		for _, p := range l.branches {
			writeAt(t, path, p*l.pageSize, garbage(l.pageSize, p))
			dmg[p] = true
		}
		return l.intact(dmg, l.size)
	}},
	{name: "both meta pages bad", salvaged: true, keepsCursor: true, damage: func(t *testing.T, path string, l layout) map[uint64]bool {
		writeAt(t, path, 0, garbage(2*l.pageSize, 2))
		return l.intact(nil, l.size)
	}},
	{name: "one meta page bad", keepsCursor: true, damage: func(t *testing.T, path string, l layout) map[uint64]bool {
		writeAt(t, path, 16, []byte{0xde, 0xad, 0xbe, 0xef}) // magic of meta 0
		return l.intact(nil, l.size)
	}},
	{name: "flipped byte in a record value", keepsCursor: true, damage: func(t *testing.T, path string, l layout) map[uint64]bool {
		flipRecordByte(t, path, l, 2000)
		in := l.intact(nil, l.size)
		delete(in, 2000)
		return in
	}},
	{name: "branch pointing twice to one page", salvaged: true, keepsCursor: true, damage: func(t *testing.T, path string, l layout) map[uint64]bool {
		// bbolt would report "multiple references" from a goroutine of its own.
		for _, p := range l.branches {
			buf := make([]byte, l.pageSize)
			f, _ := os.Open(path)
			_, _ = f.ReadAt(buf, p*l.pageSize)
			f.Close()
			if boltpages.LE.Uint16(buf[10:]) < 2 {
				continue
			}
			child0 := buf[boltpages.PageHeaderSize+8 : boltpages.PageHeaderSize+16]
			writeAt(t, path, p*l.pageSize+boltpages.PageHeaderSize+boltpages.ElemSize+8, child0)
			return l.intact(nil, l.size)
		}
		t.Fatal("no branch page with two children")
		return nil
	}},
	{name: "garbage on random pages", salvaged: true, damage: func(t *testing.T, path string, l layout) map[uint64]bool {
		rng := rand.New(rand.NewSource(7))
		dmg := map[int64]bool{}
		for len(dmg) < 5 {
			p := 2 + rng.Int63n(l.used/l.pageSize-2)
			writeAt(t, path, p*l.pageSize, garbage(l.pageSize, p))
			dmg[p] = true
		}
		return l.intact(dmg, l.size)
	}},
}

// flipRecordByte flips the last byte of every copy of raw seq's value.
func flipRecordByte(t *testing.T, path string, l layout, seq uint64) {
	t.Helper()
	want := corruptValue("raw", seq)
	for _, p := range l.rawOn[seq] {
		buf := make([]byte, l.pageSize)
		f, _ := os.Open(path)
		_, _ = f.ReadAt(buf, p*l.pageSize)
		f.Close()
		i := strings.Index(string(buf), string(want))
		if i < 0 {
			t.Fatalf("value of %d not on page %d", seq, p)
		}
		writeAt(t, path, p*l.pageSize+int64(i+len(want)-1), []byte{'y'})
	}
}

func TestCorruptionTable(t *testing.T) {
	for _, c := range corruptions {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "spool.db")
			o := Options{NoSync: true, Consumers: map[string][]string{"raw": {"sink"}}}
			buildCorruptFixture(t, path, o)
			l := readLayout(t, path)
			mustKeep := c.damage(t, path, l)
			var logs testLogger
			o.Logger = logs.logger()
			s, err := Open(path, o)
			if err != nil {
				t.Fatalf("spool does not come up: %v", err)
			}
			defer s.Close()
			checkAfterCorruption(t, s, c, mustKeep, dir, &logs)
		})
	}
}

func checkAfterCorruption(t *testing.T, s *Spool, c corruption, mustKeep map[uint64]bool, dir string, logs *testLogger) {
	t.Helper()
	got := map[uint64]bool{}
	var prev uint64
	cursor, _, _ := s.Cursor("sink", "raw")
	err := s.Scan("raw", 0, func(r Record) error {
		if r.Seq <= prev || string(r.Value) != string(corruptValue("raw", r.Seq)) {
			return fmt.Errorf("wrong record %d after %d: %q", r.Seq, prev, r.Value)
		}
		// Without its cursor a consumer starts over (at least once); with
		// it, acknowledged records must not come back.
		if r.Seq <= corruptAcked && cursor == corruptAcked {
			return fmt.Errorf("acknowledged record %d came back", r.Seq)
		}
		if r.Seq > corruptAcked {
			got[r.Seq] = true
		}
		prev = r.Seq
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for seq := range mustKeep {
		if !got[seq] {
			t.Fatalf("intact record %d lost (kept %d of %d intact)", seq, len(got), len(mustKeep))
		}
	}
	st := s.Stats().Streams["raw"]
	asides, _ := filepath.Glob(filepath.Join(dir, "spool.db.corrupt-*"))
	if c.salvaged != (len(asides) == 1) || c.salvaged != (metricValue(s.m.corruptFiles) == 1) {
		t.Fatalf("salvaged=%v but %d files aside, metric %v", c.salvaged, len(asides), metricValue(s.m.corruptFiles))
	}
	if c.salvaged && logs.count("level=ERROR") == 0 {
		t.Fatal("salvage not logged at error level")
	}
	lost := uint64(corruptRaw-corruptAcked) - uint64(len(got))
	if lost > 0 && !c.salvaged && st.Corrupt < lost {
		t.Fatalf("%d records lost but %d counted corrupt", lost, st.Corrupt)
	}
	seq, _, _ := s.Cursor("sink", "raw")
	if seq > corruptAcked || (c.keepsCursor && seq != corruptAcked) {
		t.Fatalf("cursor %d after damage, want %d", seq, corruptAcked)
	}
	next := []Record{{Stream: "raw", Value: []byte("after")}}
	if err := s.Append(context.Background(), next); err != nil {
		t.Fatal(err)
	}
	if next[0].Seq <= prev || next[0].Seq <= seq || (!c.losesTail && len(mustKeep) > 0 && next[0].Seq <= corruptRaw) {
		t.Fatalf("sequence number %d reused after damage (last kept %d, cursor %d)", next[0].Seq, prev, seq)
	}
}

func TestFlippedRecordFoundOnReadIsSkippedAndCounted(t *testing.T) {
	// Damage appearing while the spool runs: Read skips the record, reports
	// it in Skipped, and the next commit deletes and counts it.
	dir := t.TempDir()
	path := filepath.Join(dir, "spool.db")
	o := Options{NoSync: true, Consumers: map[string][]string{"raw": {"sink"}}}
	buildCorruptFixture(t, path, o)
	l := readLayout(t, path)
	s, err := Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	flipRecordByte(t, path, l, corruptAcked+1) // the mmap is shared: the spool sees it
	b, err := s.Read("sink", "raw", 10)
	if err != nil {
		t.Fatal(err)
	}
	if b.Skipped != 1 || b.Records[0].Seq != corruptAcked+2 {
		t.Fatalf("read over a corrupt record: skipped %d first %d", b.Skipped, b.Records[0].Seq)
	}
	mustAppend(t, s, recs("raw", 1, 10))
	if st := s.Stats().Streams["raw"]; st.Corrupt != 1 || st.Records != corruptRaw-corruptAcked {
		t.Fatalf("after purge: %+v", st)
	}
	if metricValue(s.m.corrupt) != 1 {
		t.Fatal("corrupt record not in metric")
	}
}

func TestDamageAtRuntimeIsRecovered(t *testing.T) {
	// A page damaged while the spool runs: the read that meets it fails,
	// the commit loop reopens the file through the checks of Open, salvages
	// it, and the spool carries on with every intact record.
	dir := t.TempDir()
	path := filepath.Join(dir, "spool.db")
	var logs testLogger
	o := Options{NoSync: true, Consumers: map[string][]string{"raw": {"sink"}}, Logger: logs.logger()}
	buildCorruptFixture(t, path, o)
	l := readLayout(t, path)
	s, err := Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p := l.pageOfSeq(1500)
	writeAt(t, path, p*l.pageSize, garbage(l.pageSize, 11))
	mustKeep := l.intact(map[int64]bool{p: true}, l.size)
	if _, err := s.ReadAfter("raw", 1400, 200); err == nil {
		t.Fatal("read over a garbage page succeeded")
	}
	deadline := time.Now().Add(5 * time.Second)
	for metricValue(s.m.corruptFiles) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	checkAfterCorruption(t, s, corruption{salvaged: true, keepsCursor: true}, mustKeep, dir, &logs)
	if logs.count("recovered: spool file reopened") != 1 {
		t.Fatal("recovery not logged")
	}
}
