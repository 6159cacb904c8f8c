package spool

import (
	"context"
	"fmt"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Compaction gives disk space back: bbolt reuses freed pages but never
// shrinks its file. The live data is copied (compact_copy.go, filling pages
// completely) into "<path>.compact", synced, renamed over the spool
// file, and the spool reopens it. It runs on the commit loop, so no write
// is in flight; readers wait only for the switch of files.

const (
	autoCompactRatio = 4               // file at least 4x the logical bytes
	autoCompactEvery = 5 * time.Minute // at most this often, except at the backstop
	// compactTxBytes bounds one copy transaction: bbolt holds a whole
	// transaction's pages in memory, and the copy is not synced until its
	// end, so small transactions cost little time and keep the heap small.
	compactTxBytes = 1 << 20
)

// Compact compacts the spool file now.
func (s *Spool) Compact() error {
	o := &op{kind: opCompact}
	if err := s.submit(context.Background(), o); err != nil {
		return fmt.Errorf("spool compact: %w", err)
	}
	return nil
}

// maybeAutoCompact compacts when the file is far larger than the data, and
// manages the backstop cap when the file reached its size limit. Sizes are
// the pages bbolt uses (its high water mark), not the file's length, which
// bbolt grows ahead in 16 MiB steps.
func (s *Spool) maybeAutoCompact() {
	used := s.usedBytes.Load()
	logical := s.logicalBytes()
	backstop := s.backstop.Load()
	atBackstop := used >= backstop
	sparse := used >= s.autoCompactMinFile.Load() && logical*autoCompactRatio < used
	due := time.Since(s.lastCompact) >= time.Duration(s.autoCompactEvery.Load())
	if sparse && (due || atBackstop) {
		trigger := "auto"
		if atBackstop {
			trigger = "backstop"
		}
		if err := s.compact(trigger); err != nil {
			s.log.Error("spool auto compaction failed", "err", err)
		}
		used = s.usedBytes.Load()
		atBackstop = used >= backstop
	}
	s.setBackstop(atBackstop, logical, used)
}

// setBackstop lowers the cap to the bytes held while the file is at its
// size limit, so that freed pages are reused instead of growing the file.
func (s *Spool) setBackstop(at bool, logical, used int64) {
	was := s.backstopCap.Load() > 0
	switch {
	case at && !was:
		s.backstopCap.Store(max(logical, 1))
		s.log.Warn("spool file at its size backstop; cap lowered to the bytes held",
			"used_bytes", used, "backstop", s.backstop.Load(), "cap", logical)
	case !at && was:
		s.backstopCap.Store(0)
		s.log.Info("recovered: spool file below its size backstop", "used_bytes", used)
	}
}

// noteUsed records the pages in use after a switch of files.
func (s *Spool) noteUsed() {
	_ = s.view(func(tx *bolt.Tx) error { s.usedBytes.Store(tx.Size()); return nil })
}

func (s *Spool) fileSize() int64 {
	fi, err := os.Stat(s.path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func (s *Spool) logicalBytes() int64 {
	s.stMu.Lock()
	defer s.stMu.Unlock()
	var n int64
	for _, st := range s.streams {
		n += st.Bytes
	}
	return n
}

// compact copies the live data into a new file and switches to it. Runs on
// the commit loop only.
func (s *Spool) compact(trigger string) error {
	start := time.Now()
	before := s.fileSize()
	tmp := s.path + ".compact"
	_ = os.Remove(tmp)
	if err := s.copyLive(tmp); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("compact copy: %w", err)
	}
	if err := keepOwnerOf(s.path, tmp); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("compact: %w", err)
	}
	if err := s.switchFile(tmp); err != nil {
		return err
	}
	s.lastCompact = time.Now()
	s.noteUsed()
	s.m.compactions.WithLabelValues(trigger).Inc()
	s.log.Info("spool compacted", "trigger", trigger, "before_bytes", before,
		"after_bytes", s.fileSize(), "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// copyLive writes a compact copy of the database to path, synced.
func (s *Spool) copyLive(path string) error {
	// The copy's map is sized for the live data up front: each growth of a
	// map makes bbolt copy every value of the open transaction to the heap.
	dst, err := bolt.Open(path, 0o600, &bolt.Options{NoSync: true, NoFreelistSync: true,
		FreelistType: bolt.FreelistMapType, Timeout: s.opts.LockTimeout,
		InitialMmapSize: int(min(s.logicalBytes()+s.logicalBytes()/2+(1<<20), 1<<30))})
	if err != nil {
		return err
	}
	s.dbMu.RLock()
	err = guard(func() error {
		return s.db.View(func(tx *bolt.Tx) error { return copyTree(dst, tx) })
	})
	s.dbMu.RUnlock()
	var used int64
	if err == nil {
		err = saveFreelist(dst)
	}
	if err == nil {
		err = dst.View(func(tx *bolt.Tx) error { used = tx.Size(); return nil })
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return truncateSync(path, used)
}

// truncateSync cuts the file to the pages in use (bbolt grows files ahead
// in steps) and syncs it.
func truncateSync(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && size > 0 && fi.Size() > size {
		if err := f.Truncate(size); err != nil {
			return err
		}
	}
	return f.Sync()
}

// switchFile replaces the spool file with the compacted copy and reopens.
func (s *Spool) switchFile(tmp string) error {
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("compact close: %w", err)
	}
	s.db = nil
	renameErr := os.Rename(tmp, s.path)
	syncDir(s.path)
	db, _, err := openBolt(s.path, s.boltOptions(false))
	if err != nil {
		s.needRecover.Store(true) // the loop reopens through Open's checks
		return fmt.Errorf("compact reopen (rename: %v): %w", renameErr, err)
	}
	s.db = db
	if renameErr != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("compact rename: %w", renameErr)
	}
	return nil
}
