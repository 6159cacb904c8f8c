package spool

import (
	"encoding/binary"
	"hash/fnv"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgespool/edgespool/spool/internal/boltpages"
)

func fileMeta(t *testing.T, path string) boltpages.Meta {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, ok := boltpages.ReadMeta(f)
	if !ok {
		t.Fatal("no valid meta page")
	}
	return m
}

func TestFreelistSavedAtCloseServesTheReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	s := openTest(t, path, Options{})
	mustAppend(t, s, recs("raw", 500, 100))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if m := fileMeta(t, path); m.Freelist == boltpages.NoFreelist {
		t.Fatal("clean close left no freelist: the next open walks the whole file")
	}
	s = openTest(t, path, Options{})
	mustAppend(t, s, recs("raw", 10, 100))
	if m := fileMeta(t, path); m.Freelist != boltpages.NoFreelist {
		t.Fatalf("freelist page %d still referenced after a commit: a crash would reopen with a stale list", m.Freelist)
	}
	b, err := s.ReadAfter("raw", 0, 1000)
	if err != nil || len(b.Records) != 510 {
		t.Fatalf("read after reopen: %d records, %v", len(b.Records), err)
	}
}

func TestOpenCloseCyclesLeakNoPages(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	s := openTest(t, path, Options{})
	mustAppend(t, s, recs("raw", 2000, 100))
	_ = s.Close()
	var hwm []uint64
	for i := 0; i < 20; i++ {
		s := openTest(t, path, Options{})
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		hwm = append(hwm, fileMeta(t, path).HWM)
	}
	if hwm[len(hwm)-1] > hwm[1]+1 {
		t.Fatalf("high water mark grew over open/close cycles: %v", hwm)
	}
}

func TestCheckRefusesFreelistListingAPageInUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	s := openTest(t, path, Options{})
	mustAppend(t, s, recs("raw", 500, 100))
	_ = s.Close()
	if err := boltpages.Check(path); err != nil {
		t.Fatalf("clean file: %v", err)
	}
	m := fileMeta(t, path)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	page := make([]byte, boltpages.PageHeaderSize+8)
	off := int64(m.Freelist) * int64(m.PageSize)
	if _, err := f.ReadAt(page, off); err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint16(page[10:], 1)                            // one free page ...
	binary.LittleEndian.PutUint64(page[boltpages.PageHeaderSize:], m.Root) // ... the root's
	if _, err := f.WriteAt(page, off); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	if err := boltpages.Check(path); err == nil {
		t.Fatal("a freelist listing the root page passed the check")
	}
}

func TestCheckRefusesFileShorterThanItsHighWaterMark(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	s := openTest(t, path, Options{})
	mustAppend(t, s, recs("raw", 5000, 100))
	_ = s.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	m := fileMeta(t, path)
	// Raise the high water mark of the meta page in use past the end of the
	// file, with a valid checksum: every page the tree references is still
	// in the file.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := int64(0); i < 2; i++ {
		off := i*int64(m.PageSize) + boltpages.PageHeaderSize
		body := make([]byte, boltpages.MetaSize)
		if _, err := f.ReadAt(body, off); err != nil {
			t.Fatal(err)
		}
		if mm, ok := boltpages.ParseMeta(body); !ok || mm.Txid != m.Txid {
			continue
		}
		binary.LittleEndian.PutUint64(body[40:], uint64(fi.Size())/uint64(m.PageSize)+8)
		h := fnv.New64a()
		h.Write(body[:56])
		binary.LittleEndian.PutUint64(body[56:], h.Sum64())
		if _, err := f.WriteAt(body, off); err != nil {
			t.Fatal(err)
		}
	}
	if got := fileMeta(t, path); got.HWM <= m.HWM {
		t.Fatalf("meta not rewritten: high water mark %d", got.HWM)
	}
	if err := boltpages.Check(path); err == nil {
		t.Fatal("a file shorter than its high water mark passed the check")
	}
}
