package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/edgespool/edgespool/spool/internal/boltpages"
	bolt "go.etcd.io/bbolt"
)

// Opening, checking and salvaging the spool file. bbolt's own Tx.Check is
// not used: it runs in a goroutine of its own, where a panic on a damaged
// page could not be recovered. The scan below reads every page that holds
// spool data under guard instead.

// corruptFileError says the file could not be opened or failed the scan.
type corruptFileError struct{ cause error }

func (e *corruptFileError) Error() string { return "spool file damaged: " + e.cause.Error() }
func (e *corruptFileError) Unwrap() error { return e.cause }

func (s *Spool) boltOptions(readOnly bool) *bolt.Options {
	o := &bolt.Options{
		Timeout:         s.opts.LockTimeout,
		NoFreelistSync:  true,
		FreelistType:    bolt.FreelistMapType,
		MmapFlags:       mmapFlags,
		InitialMmapSize: s.opts.initialMmapSize(),
		NoSync:          s.opts.NoSync,
		ReadOnly:        readOnly,
	}
	if readOnly {
		o.InitialMmapSize = 0
	}
	return o
}

// openBolt opens a bbolt file under guard. opened reports whether the OS
// opened the file at all (if not, the error is one of the environment).
func openBolt(path string, bo *bolt.Options) (db *bolt.DB, opened bool, err error) {
	var f *os.File
	o := *bo
	o.OpenFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
		ff, err := os.OpenFile(name, flag, perm)
		if err == nil {
			f = ff
			readAhead(ff)
		}
		return ff, err
	}
	err = guard(func() error {
		var e error
		db, e = bolt.Open(path, 0o600, &o)
		return e
	})
	if err != nil && db == nil && f != nil {
		_ = f.Close() // bbolt panicked with the file (and its lock) open
	}
	return db, f != nil, err
}

// openFile opens the spool file, salvaging a damaged one. It returns the
// database and the result of the scan at open.
func (s *Spool) openFile() (*bolt.DB, *scanResult, error) {
	if err := os.MkdirAll(filepath.Dir(s.path), 0o750); err != nil {
		return nil, nil, fmt.Errorf("spool dir: %w", err)
	}
	_ = os.Remove(s.path + ".compact")
	_ = os.Remove(s.path + ".salvage")
	db, res, err := s.openChecked()
	var cf *corruptFileError
	if err == nil || !errors.As(err, &cf) {
		return db, res, err
	}
	if err := s.damagedOrForeign(cf.cause); err != nil {
		return nil, nil, err
	}
	if s.opts.NoSalvage {
		return nil, nil, fmt.Errorf("spool %s damaged (edgespool spool repair salvages it): %v: %w", s.path, cf.cause, ErrCorrupt)
	}
	return s.recoverFile(cf.cause)
}

// openChecked checks the file's structure, opens it and scans its data.
func (s *Spool) openChecked() (*bolt.DB, *scanResult, error) {
	return s.openCheckedMode(false)
}

func (s *Spool) openCheckedMode(readOnly bool) (*bolt.DB, *scanResult, error) {
	if err := guard(func() error { return boltpages.Check(s.path) }); err != nil {
		return nil, nil, &corruptFileError{err}
	}
	db, opened, err := openBolt(s.path, s.boltOptions(readOnly))
	if err != nil {
		switch {
		case errors.Is(err, bolt.ErrTimeout):
			return nil, nil, fmt.Errorf("spool open %s: %w", s.path, ErrLocked)
		case !opened:
			return nil, nil, fmt.Errorf("spool open: %w", err)
		}
		return nil, nil, &corruptFileError{err}
	}
	res, err := scanDB(db)
	if err != nil {
		_ = guard(db.Close)
		return nil, nil, &corruptFileError{err}
	}
	return db, res, nil
}

// recoverFile salvages a damaged file into a fresh one and moves the
// damaged file aside. It only fails for errors of the environment.
func (s *Spool) recoverFile(cause error) (*bolt.DB, *scanResult, error) {
	s.m.corruptFiles.Inc()
	aside := asideName(s.path, s.opts.Now())
	tmp := s.path + ".salvage"
	rep, serr := s.salvage(s.path, tmp)
	if serr == nil {
		if err := keepOwnerOf(s.path, tmp); err != nil {
			s.log.Warn("salvaged spool file: owner and mode of the damaged file not kept", "err", err)
		}
	}
	if err := os.Rename(s.path, aside); err != nil {
		return nil, nil, fmt.Errorf("spool: move damaged file aside: %w", err)
	}
	if serr == nil {
		serr = os.Rename(tmp, s.path)
	}
	if serr != nil {
		_ = os.Remove(tmp)
	}
	syncDir(s.path)
	s.log.Error("spool file damaged: moved aside, salvaged what checks out, started on a fresh file",
		"cause", cause, "moved_to", aside, "salvage_err", serr,
		"records_kept", rep.kept, "records_lost", rep.lost)
	s.report.Salvaged, s.report.MovedTo, s.report.Kept, s.report.Lost = true, aside, rep.kept, s.report.Lost+rep.lost
	if serr != nil {
		s.report.Notes = append(s.report.Notes, "salvage failed, started empty: "+serr.Error())
	}
	for stream, n := range rep.lostBy {
		s.m.corrupt.WithLabelValues(stream).Add(float64(n))
	}
	db, res, err := s.openChecked()
	var cf *corruptFileError
	if err != nil && errors.As(err, &cf) {
		// The salvaged file does not open either: start empty.
		s.m.corruptFiles.Inc()
		_ = os.Rename(s.path, aside+".salvaged")
		s.log.Error("salvaged spool file unusable; starting empty", "err", err, "moved_to", aside+".salvaged")
		return s.openChecked()
	}
	return db, res, err
}

// asideName returns "<path>.corrupt-<unix>", unique in its directory.
func asideName(path string, now time.Time) string {
	name := fmt.Sprintf("%s.corrupt-%d", path, now.Unix())
	for i := 1; ; i++ {
		if _, err := os.Lstat(name); errors.Is(err, os.ErrNotExist) {
			return name
		}
		name = fmt.Sprintf("%s.corrupt-%d-%d", path, now.Unix(), i)
	}
}

// syncDir makes a rename durable.
func syncDir(path string) {
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// scanResult is what the scan at open found and what load must repair.
type scanResult struct {
	fresh      bool
	streams    map[string]*streamState
	cursors    map[cursorID]*cursorState
	dirty      map[string]bool     // stream states to rewrite
	rebuilt    map[string]bool     // stream states lost, rebuilt from data
	fixCursors map[cursorID]bool   // cursors to rewrite
	badCursors [][]byte            // cursor keys to delete
	badRecords map[string][][]byte // record keys to delete
	notes      []string

	tx     *bolt.Tx  // the scan's read transaction
	mapped mapBudget // bytes scanned since the map was last released
}

// scanDB reads every record, cursor and stream state, checking checksums
// and key order. A structural problem (panic, fault, keys out of order,
// unexpected buckets) is returned as an error; damaged values are listed
// for repair.
func scanDB(db *bolt.DB) (*scanResult, error) {
	res := &scanResult{streams: map[string]*streamState{}, cursors: map[cursorID]*cursorState{},
		dirty: map[string]bool{}, rebuilt: map[string]bool{}, fixCursors: map[cursorID]bool{}, badRecords: map[string][][]byte{}}
	err := guard(func() error {
		return db.View(func(tx *bolt.Tx) error {
			res.tx = tx
			defer func() { res.tx = nil }()
			res.mapped.release(tx) // what bbolt's open walked (after a crash)
			return res.scanTx(tx)
		})
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

func (r *scanResult) scanTx(tx *bolt.Tx) error {
	empty := true
	_ = tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
	if empty {
		r.fresh = true
		return nil
	}
	sb := tx.Bucket(bucketSpool)
	switch {
	case sb == nil && tx.Bucket(bucketStreams) == nil && tx.Bucket(bucketCursors) == nil && tx.Bucket(bucketRecords) == nil:
		return errForeignBuckets
	case sb != nil && sb.Get(keyFormat) != nil && string(sb.Get(keyFormat)) != formatMarker:
		return fmt.Errorf("%w: %q", errFormat, sb.Get(keyFormat))
	case sb == nil || string(sb.Get(keyFormat)) != formatMarker:
		return errors.New("format marker missing")
	}
	r.scanStates(tx.Bucket(bucketStreams))
	r.scanCursors(tx.Bucket(bucketCursors))
	root := tx.Bucket(bucketRecords)
	if root == nil || tx.Bucket(bucketStreams) == nil || tx.Bucket(bucketCursors) == nil {
		return errors.New("spool buckets missing")
	}
	counts := map[string]streamCount{}
	err := root.ForEach(func(k, v []byte) error {
		if v != nil {
			return fmt.Errorf("value %x in records bucket", k)
		}
		c, err := r.scanStream(string(k), root.Bucket(k))
		counts[string(k)] = c
		return err
	})
	if err != nil {
		return err
	}
	r.reconcile(counts)
	return nil
}

func (r *scanResult) scanStates(b *bolt.Bucket) {
	if b == nil {
		return
	}
	_ = b.ForEach(func(k, v []byte) error {
		st, err := decodeStreamState(v)
		if err != nil {
			r.notes = append(r.notes, fmt.Sprintf("stream %q: state unreadable (%v), rebuilt from records", k, err))
			st = streamState{}
			r.dirty[string(k)] = true
			r.rebuilt[string(k)] = true
		}
		r.streams[string(k)] = &st
		return nil
	})
}

func (r *scanResult) scanCursors(b *bolt.Bucket) {
	if b == nil {
		return
	}
	_ = b.ForEach(func(k, v []byte) error {
		id, ok := parseCursorKey(k)
		cs, err := decodeCursor(v)
		if !ok || err != nil {
			r.notes = append(r.notes, fmt.Sprintf("cursor %q unreadable (%v): removed, the consumer restarts from the oldest record", k, err))
			r.badCursors = append(r.badCursors, append([]byte(nil), k...))
			return nil
		}
		r.cursors[id] = &cs
		return nil
	})
}

type streamCount struct {
	records, bad uint64
	bytes        int64
	maxSeq       uint64
}

// scanStream checks every record of one stream.
func (r *scanResult) scanStream(name string, b *bolt.Bucket) (streamCount, error) {
	var c streamCount
	var prev []byte
	err := b.ForEach(func(k, v []byte) error {
		if v == nil {
			return fmt.Errorf("stream %q: nested bucket %x", name, k)
		}
		if prev != nil && string(k) <= string(prev) {
			return fmt.Errorf("stream %q: keys out of order (%x after %x)", name, k, prev)
		}
		prev = k
		r.mapped.add(r.tx, int64(len(k)+len(v)))
		seq, ok := keySeq(k)
		if _, err := decodeRecord(name, seq, v); !ok || err != nil {
			c.bad++
			r.badRecords[name] = append(r.badRecords[name], append([]byte(nil), k...))
			return nil
		}
		c.records++
		c.bytes += logicalSize(len(v))
		c.maxSeq = max(c.maxSeq, seq)
		return nil
	})
	return c, err
}

// reconcile fixes stream states and cursors against what the scan counted.
func (r *scanResult) reconcile(counts map[string]streamCount) {
	for name, c := range counts {
		st := r.streams[name]
		if st == nil {
			st = &streamState{}
			r.streams[name] = st
			r.dirty[name], r.rebuilt[name] = true, true
		}
		if lost := int64(st.Records) - int64(c.records+c.bad); lost > 0 && !r.rebuilt[name] {
			r.notes = append(r.notes, fmt.Sprintf("stream %q: %d records missing", name, lost))
			st.Corrupt += uint64(lost)
		}
		if c.bad > 0 {
			r.notes = append(r.notes, fmt.Sprintf("stream %q: %d records failed their checksum and are removed", name, c.bad))
			st.Corrupt += c.bad
		}
		if st.Records != c.records || st.Bytes != c.bytes || st.LastSeq < c.maxSeq {
			st.Records, st.Bytes, st.LastSeq = c.records, c.bytes, max(st.LastSeq, c.maxSeq)
			r.dirty[name] = true
		}
	}
	for id, cs := range r.cursors {
		st := r.streams[id.Stream]
		if st == nil {
			st = &streamState{}
			r.streams[id.Stream] = st
			r.dirty[id.Stream], r.rebuilt[id.Stream] = true, true
		}
		if r.rebuilt[id.Stream] && cs.Seq > st.LastSeq {
			st.LastSeq = cs.Seq // state lost: keep new sequence numbers ahead of the cursor
		}
		if cs.Seq > st.LastSeq {
			r.notes = append(r.notes, fmt.Sprintf("cursor %s/%s at %d ahead of data (%d): moved back", id.Consumer, id.Stream, cs.Seq, st.LastSeq))
			cs.Seq = st.LastSeq
			r.fixCursors[id] = true
		}
	}
}

// damaged records a transaction aborted on a damaged page and asks the
// commit loop to recover the file.
func (s *Spool) damaged(err error) {
	s.m.corruptPanics.Inc()
	if !s.needRecover.Swap(true) {
		s.log.Error("spool met a damaged page; reopening the file to check and salvage it", "err", err)
		s.q.wake()
	}
}

// recoverRuntime closes the file, reopens it through the checks of Open
// (salvaging it if needed) and reloads the state. Runs on the commit loop.
func (s *Spool) recoverRuntime() {
	s.needRecover.Store(false)
	s.dbMu.Lock()
	if s.db != nil {
		_ = guard(s.db.Close)
	}
	db, res, err := s.openFile()
	s.db = db
	s.dbMu.Unlock()
	if err != nil {
		s.log.Error("spool cannot reopen its file after damage", "err", err)
		return
	}
	if err := s.load(res); err != nil {
		s.log.Error("spool reload after damage failed", "err", err)
		return
	}
	s.log.Info("recovered: spool file reopened after damage")
}
