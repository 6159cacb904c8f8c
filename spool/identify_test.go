package spool

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// foreignFiles are files that may end up at the spool path by mistake.
var foreignFiles = map[string]func(t *testing.T, path string){
	"yaml config": func(t *testing.T, path string) {
		writeFile(t, path, []byte("mqtt:\n  url: tcp://localhost:1883\nspool:\n  path: /var/lib/edgespool/spool.db\n"))
	},
	"log file": func(t *testing.T, path string) {
		writeFile(t, path, bytes.Repeat([]byte("time=2026-12-04T10:00:00Z level=INFO msg=started\n"), 400))
	},
	"sqlite database": func(t *testing.T, path string) {
		writeFile(t, path, append([]byte("SQLite format 3\x00\x10\x00\x01\x01"), garbage(1<<15, 5)...))
	},
	"random bytes":                     func(t *testing.T, path string) { writeFile(t, path, garbage(1<<16, 3)) },
	"zeros":                            func(t *testing.T, path string) { writeFile(t, path, make([]byte, 1<<16)) },
	"another program's bbolt database": foreignBolt,
	"damaged bbolt database of another program": func(t *testing.T, path string) {
		foreignBolt(t, path)
		ps := int64(os.Getpagesize())
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteAt(garbage(ps, 9), 3*ps); err != nil { // the root leaf
			t.Fatal(err)
		}
	},
	"spool of an unknown format": func(t *testing.T, path string) {
		s := openTest(t, path, Options{NoSync: true})
		mustAppend(t, s, recs("raw", 3, 10))
		_ = s.Close()
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.Update(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketSpool).Put(keyFormat, []byte("edgespool-spool/9"))
		}); err != nil {
			t.Fatal(err)
		}
	},
}

func foreignBolt(t *testing.T, path string) {
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("users"))
		if err != nil {
			return err
		}
		return b.Put([]byte("alice"), []byte(`{"admin":true}`))
	})
	if err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
}

// snapshot is a file's content and modification time.
type snapshot struct {
	data  []byte
	mtime time.Time
}

func snap(t *testing.T, path string) snapshot {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return snapshot{data, fi.ModTime()}
}

// unchanged fails unless path is as in before and nothing was moved aside.
func unchanged(t *testing.T, path string, before snapshot) {
	t.Helper()
	after := snap(t, path)
	if !bytes.Equal(before.data, after.data) || !before.mtime.Equal(after.mtime) {
		t.Fatalf("file changed: %d -> %d bytes, mtime %v -> %v", len(before.data), len(after.data), before.mtime, after.mtime)
	}
	if aside, _ := filepath.Glob(path + ".*"); len(aside) > 0 {
		t.Fatalf("files written beside it: %v", aside)
	}
}

func TestOpenRefusesForeignFiles(t *testing.T) {
	for name, make := range foreignFiles {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "spool.db")
			make(t, path)
			before := snap(t, path)
			for _, open := range []func() (*Spool, error){
				func() (*Spool, error) { return Open(path, Options{NoSync: true}) },
				func() (*Spool, error) { return OpenReadOnly(path, Options{}) },
			} {
				s, err := open()
				if err == nil {
					s.Close()
					t.Fatal("a foreign file opened as a spool")
				}
				if !errors.Is(err, ErrNotSpool) || !strings.Contains(err.Error(), "not an edgespool spool") {
					t.Fatalf("error %v, want ErrNotSpool", err)
				}
				unchanged(t, path, before)
			}
			if _, err := Repair(path, Options{NoSync: true}); !errors.Is(err, ErrNotSpool) {
				t.Fatalf("repair: %v, want ErrNotSpool", err)
			}
			unchanged(t, path, before)
		})
	}
}

func TestOpenTakesEmptyOrMissingFileAsNewSpool(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.db")
	writeFile(t, empty, nil)
	for _, path := range []string{empty, filepath.Join(dir, "sub", "missing.db")} {
		s := openTest(t, path, Options{NoSync: true})
		mustAppend(t, s, recs("raw", 2, 10))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = openTest(t, path, Options{NoSync: true})
		if n := s.Stats().Streams["raw"].Records; n != 2 {
			t.Fatalf("%s: %d records after reopen", path, n)
		}
		s.Close()
	}
}

func TestOpenReadOnlyChangesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "spool.db")
	o := Options{NoSync: true, Consumers: map[string][]string{"raw": {"sink"}}}
	buildCorruptFixture(t, path, o)
	before := snap(t, path)
	time.Sleep(10 * time.Millisecond) // a write would show in the mtime
	s, err := OpenReadOnly(path, Options{MaxBytes: 1 << 10, MaxAge: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if r := st.Streams["raw"]; r.Records != corruptRaw-corruptAcked || r.FirstSeq != corruptAcked+1 {
		t.Fatalf("stats read-only: %+v", r)
	}
	if seq, _, _ := s.Cursor("sink", "raw"); seq != corruptAcked {
		t.Fatalf("cursor %d", seq)
	}
	n := 0
	if err := s.Scan("raw", 0, func(Record) error { n++; return nil }); err != nil || n != corruptRaw-corruptAcked {
		t.Fatalf("scan: %d records, %v", n, err)
	}
	for _, err := range []error{s.Append(context.Background(), recs("raw", 1, 1)), s.Ack("sink", "raw", 200),
		s.Compact(), second(s.RemoveConsumer("sink"))} {
		if !errors.Is(err, ErrReadOnly) {
			t.Fatalf("write on a read-only spool: %v", err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	unchanged(t, path, before)
}

func second[T any](_ T, err error) error { return err }

func TestOpenReadOnlyRefusesEmptyMissingAndDamaged(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.db")
	writeFile(t, empty, nil)
	if _, err := OpenReadOnly(empty, Options{}); !errors.Is(err, ErrNotSpool) {
		t.Fatalf("empty file: %v", err)
	}
	if _, err := OpenReadOnly(filepath.Join(dir, "missing.db"), Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "missing.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("read-only open created the file")
	}
	path := filepath.Join(dir, "spool.db")
	buildCorruptFixture(t, path, Options{NoSync: true, Consumers: map[string][]string{"raw": {"sink"}}})
	l := readLayout(t, path)
	writeAt(t, path, l.pageOfSeq(1500)*l.pageSize, garbage(l.pageSize, 1))
	before := snap(t, path)
	if _, err := OpenReadOnly(path, Options{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("damaged spool read-only: %v, want ErrCorrupt", err)
	}
	if _, err := Open(path, Options{NoSync: true, NoSalvage: true}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("damaged spool with NoSalvage: %v, want ErrCorrupt", err)
	}
	unchanged(t, path, before)
}

func TestOpenReadOnlyWhileOpenIsLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	s := openTest(t, path, Options{NoSync: true})
	defer s.Close()
	mustAppend(t, s, recs("raw", 1, 1))
	if _, err := OpenReadOnly(path, Options{LockTimeout: 50 * time.Millisecond}); !errors.Is(err, ErrLocked) {
		t.Fatalf("read-only open of a spool in use: %v, want ErrLocked", err)
	}
}

func TestRepairReportsSalvage(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "spool.db")
	buildCorruptFixture(t, path, Options{NoSync: true, Consumers: map[string][]string{"raw": {"sink"}}})
	l := readLayout(t, path)
	p := l.pageOfSeq(1500)
	writeAt(t, path, p*l.pageSize, garbage(l.pageSize, 1))
	intact := l.intact(map[int64]bool{p: true}, l.size)
	rep, err := Repair(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Salvaged || rep.Kept < uint64(len(intact)) || rep.Lost == 0 {
		t.Fatalf("report %+v, %d intact records", rep, len(intact))
	}
	if _, err := os.Stat(rep.MovedTo); err != nil || !strings.HasPrefix(rep.MovedTo, path+".corrupt-") {
		t.Fatalf("damaged original not kept at %q: %v", rep.MovedTo, err)
	}
	rep, err = Repair(path, Options{NoSync: true})
	if err != nil || rep.Salvaged || rep.Lost != 0 {
		t.Fatalf("second repair of a sound file: %+v %v", rep, err)
	}
	if seq := readOnlyCursor(t, path, "sink", "raw"); seq != corruptAcked {
		t.Fatalf("cursor after repair %d", seq)
	}
}

func readOnlyCursor(t *testing.T, path, consumer, stream string) uint64 {
	t.Helper()
	s, err := OpenReadOnly(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	seq, _, _ := s.Cursor(consumer, stream)
	return seq
}

// ownedByNobody makes path belong to nobody:nogroup with mode 0640.
func ownedByNobody(t *testing.T, path string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the file to another user")
	}
	if err := os.Chown(path, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
}

func checkOwnedByNobody(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != 65534 || st.Gid != 65534 || fi.Mode().Perm() != 0o640 {
		t.Fatalf("owner %d:%d mode %v, want 65534:65534 -rw-r-----", st.Uid, st.Gid, fi.Mode().Perm())
	}
}

func TestCompactKeepsOwnerAndMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	s := openTest(t, path, Options{NoSync: true})
	fill(t, s, "raw", 500, 100)
	_ = s.Close()
	ownedByNobody(t, path)
	s = openTest(t, path, Options{NoSync: true})
	if err := s.Compact(); err != nil {
		t.Fatal(err)
	}
	checkOwnedByNobody(t, path)
	mustAppend(t, s, recs("raw", 1, 10))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	checkOwnedByNobody(t, path)
}

func TestSalvageKeepsOwnerAndMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	buildCorruptFixture(t, path, Options{NoSync: true})
	l := readLayout(t, path)
	writeAt(t, path, l.pageOfSeq(1500)*l.pageSize, garbage(l.pageSize, 1))
	ownedByNobody(t, path)
	s := openTest(t, path, Options{NoSync: true})
	defer s.Close()
	if metricValue(s.m.corruptFiles) != 1 {
		t.Fatal("file not salvaged")
	}
	checkOwnedByNobody(t, path)
}
