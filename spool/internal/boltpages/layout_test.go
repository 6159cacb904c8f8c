package boltpages

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
	"go.etcd.io/bbolt/version"
)

// pinnedVersion is the bbolt release whose layout this package was checked
// against. An upgrade fails TestBoltLayoutPinned until the layout checks
// below pass with it and the constant is updated.
const pinnedVersion = "1.4."

// layoutDB writes a database with a bucket large enough for branch pages
// and overflow pages, an inline bucket, and no synced freelist (as the
// spool writes it). It returns every key/value put.
func layoutDB(t *testing.T, path string) map[string]string {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	kv := map[string]string{}
	err = db.Update(func(tx *bolt.Tx) error {
		big, err := tx.CreateBucket([]byte("big"))
		if err != nil {
			return err
		}
		for i := 0; i < 2000; i++ {
			k, v := fmt.Sprintf("k%06d", i), fmt.Sprintf("value-%d-%s", i, strings.Repeat("x", i%97))
			if i == 1000 {
				v = strings.Repeat("o", 3*os.Getpagesize()) // overflow pages
			}
			kv[k] = v
			if err := big.Put([]byte(k), []byte(v)); err != nil {
				return err
			}
		}
		small, err := tx.CreateBucket([]byte("small")) // stays inline
		if err != nil {
			return err
		}
		kv["inline"] = "in a bucket stored in its parent's leaf"
		return small.Put([]byte("inline"), []byte(kv["inline"]))
	})
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// TestBoltLayoutPinned checks every part of bbolt's on-disk layout this
// package reads, on a database written by the bbolt of go.mod.
func TestBoltLayoutPinned(t *testing.T) {
	if !strings.HasPrefix(version.Version, pinnedVersion) {
		t.Fatalf("bbolt %s, layout checked against %sx: re-check the layout (this test) and update pinnedVersion", version.Version, pinnedVersion)
	}
	path := filepath.Join(t.TempDir(), "layout.db")
	kv := layoutDB(t, path)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	meta := checkMetaLayout(t, f)
	checkPageHeaders(t, path, meta)
	found := map[string]string{}
	if err := Scan(path, func(k, v []byte) { found[string(k)] = string(v) }); err != nil {
		t.Fatal(err)
	}
	for k, v := range kv {
		if found[k] != v {
			t.Fatalf("leaf element layout: key %q read back as %d bytes, want %d", k, len(found[k]), len(v))
		}
	}
	if err := Check(path); err != nil {
		t.Fatalf("Check rejects a sound file: %v", err)
	}
}

// checkMetaLayout compares the meta pages with what bbolt reports.
func checkMetaLayout(t *testing.T, f *os.File) Meta {
	t.Helper()
	db, err := bolt.Open(f.Name(), 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.Begin(false)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	ps := db.Info().PageSize
	for i := int64(0); i < 2; i++ {
		hdr := make([]byte, PageHeaderSize)
		if _, err := f.ReadAt(hdr, i*int64(ps)); err != nil {
			t.Fatal(err)
		}
		if id, flags, _, _ := PageHeader(hdr); id != uint64(i) || flags != MetaPageFlag {
			t.Fatalf("meta page %d: header id %d flags %#x", i, id, flags)
		}
	}
	m, ok := ReadMeta(f)
	switch {
	case !ok:
		t.Fatal("no valid meta page: magic, version or checksum layout changed")
	case int(m.PageSize) != ps || PageSize(f) != ps:
		t.Fatalf("meta page size %d, bbolt says %d", m.PageSize, ps)
	case m.Txid != uint64(tx.ID()):
		t.Fatalf("meta txid %d, bbolt says %d", m.Txid, tx.ID())
	case int64(m.HWM)*int64(ps) != tx.Size():
		t.Fatalf("meta high water mark %d pages, bbolt says %d bytes", m.HWM, tx.Size())
	case m.Freelist != NoFreelist:
		t.Fatalf("freelist page %d, want none (NoFreelistSync)", m.Freelist)
	}
	if !HasMagic(f.Name()) {
		t.Fatal("HasMagic misses the magic")
	}
	return m
}

// checkPageHeaders compares every page header with bbolt's page info, and
// the root page with the meta's root.
func checkPageHeaders(t *testing.T, path string, m Meta) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{NoFreelistSync: true}) // tx.Page needs the freelist: not read-only
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]uint16{"branch": BranchPageFlag, "leaf": LeafPageFlag, "meta": MetaPageFlag, "freelist": FreelistPageFlag}
	seen := map[uint16]int{}
	err = db.View(func(tx *bolt.Tx) error {
		for id := 0; id < int(m.HWM); id++ {
			info, err := tx.Page(id)
			if err != nil {
				return err
			}
			if info == nil || info.Type == "free" {
				continue
			}
			id0, flags, count, ov := PageHeader(raw[id*int(m.PageSize):])
			if id0 != uint64(id) || flags != types[info.Type] || count != info.Count || int(ov) != info.OverflowCount {
				return fmt.Errorf("page %d: header (id %d flags %#x count %d overflow %d), bbolt says %+v", id, id0, flags, count, ov, *info)
			}
			seen[flags]++
			if ov > 0 {
				seen[0]++
				id += int(ov) // the continuation pages carry no header
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen[BranchPageFlag] == 0 || seen[LeafPageFlag] == 0 || seen[0] == 0 {
		t.Fatalf("fixture lacks branch, leaf or overflow pages: %v", seen)
	}
	root := raw[m.Root*uint64(m.PageSize):]
	if _, flags, _, _ := PageHeader(root); flags != LeafPageFlag && flags != BranchPageFlag {
		t.Fatalf("meta root %d is not a tree page (flags %#x)", m.Root, flags)
	}
	if !bytes.Contains(root[:m.PageSize], []byte("small")) {
		t.Fatal("root page does not hold the bucket names")
	}
}
