package spool

import (
	"fmt"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// Pages of the memory map. bbolt reads the file through a shared, read-only
// memory map: every page a read touches stays mapped into the process, and
// counts in its resident set, until the map lets go of it, although it is
// only page cache. A drain reads the whole backlog, so the spool gives the
// pages back after every mapReleaseEvery bytes read or deleted: on a shared
// file mapping madvise(MADV_DONTNEED) only drops the process's mappings of
// the pages; the next read maps them again from the page cache (or disk).
//
// The release runs inside a read transaction, during which bbolt cannot
// remap the file, and covers the pages of that transaction's view, which
// the map always spans.

const mapReleaseEvery = 4 << 20

// mapBudget counts the bytes read through the map since the last release.
type mapBudget struct{ n atomic.Int64 }

// add counts n bytes read in tx and releases the map when due.
func (b *mapBudget) add(tx *bolt.Tx, n int64) {
	if b.n.Add(n) < mapReleaseEvery {
		return
	}
	b.release(tx)
}

// count counts n bytes gone through in a write transaction, which cannot
// release the map itself (see releaseMapIfDue).
func (b *mapBudget) count(n int64) { b.n.Add(n) }

// due reports whether a release is due.
func (b *mapBudget) due() bool { return b.n.Load() >= mapReleaseEvery }

// release drops the map's pages (tx must be a read transaction).
func (b *mapBudget) release(tx *bolt.Tx) {
	b.n.Store(0)
	_ = releaseMap(tx.DB().Info().Data, tx.Size()) // only fails where nothing is mapped
}

// releaseMapIfDue releases the map's pages if reads or the commit loop's
// deletions went through enough of them. Called by the commit loop, whose
// write transactions cannot release themselves.
func (s *Spool) releaseMapIfDue() {
	if !s.mapped.due() {
		return
	}
	_ = s.view(func(tx *bolt.Tx) error { s.mapped.release(tx); return nil })
}

// saveFreelist commits an empty transaction that writes bbolt's list of
// free pages into the file, so that the next open reads it instead of
// walking every page of the file (which maps the whole file in and takes
// seconds on an SD card). The first commit after the next open drops the
// list again (the spool runs with NoFreelistSync). Only for a database no
// other transaction writes to.
func saveFreelist(db *bolt.DB) error {
	db.NoFreelistSync = false
	defer func() { db.NoFreelistSync = true }()
	if err := db.Update(func(*bolt.Tx) error { return nil }); err != nil {
		return fmt.Errorf("save freelist: %w", err)
	}
	return nil
}
