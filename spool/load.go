package spool

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// load repairs what the scan at open found, loads the state into memory
// and runs retention once over every stream. Cursors of consumers no longer
// configured are kept as orphans (see consumers.go).
func (s *Spool) load(res *scanResult) error {
	err := s.update(func(tx *bolt.Tx) error {
		if err := initBuckets(tx); err != nil {
			return err
		}
		return res.repair(tx)
	})
	if err != nil {
		return fmt.Errorf("repair: %w", err)
	}
	for _, note := range res.notes {
		s.log.Warn("spool repaired at open: " + note)
	}
	s.report.Notes = append(s.report.Notes, res.notes...)
	for stream, keys := range res.badRecords {
		s.m.corrupt.WithLabelValues(stream).Add(float64(len(keys)))
		s.report.Lost += uint64(len(keys))
	}
	s.warnOrphans(res.cursors)
	s.stMu.Lock()
	s.streams, s.cursors = res.streams, res.cursors
	s.stMu.Unlock()
	o := &op{kind: opMaint, done: make(chan struct{})}
	s.commitOps([]*op{o}, true)
	if o.err != nil {
		return fmt.Errorf("retention at open: %w", o.err)
	}
	return nil
}

func initBuckets(tx *bolt.Tx) error {
	for _, name := range [][]byte{bucketSpool, bucketStreams, bucketCursors, bucketRecords} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return tx.Bucket(bucketSpool).Put(keyFormat, []byte(formatMarker))
}

// repair writes the fixes found by the scan.
func (r *scanResult) repair(tx *bolt.Tx) error {
	root, streams, cursors := tx.Bucket(bucketRecords), tx.Bucket(bucketStreams), tx.Bucket(bucketCursors)
	for stream, keys := range r.badRecords {
		b := root.Bucket([]byte(stream))
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return fmt.Errorf("delete corrupt record %s/%x: %w", stream, k, err)
			}
		}
		r.dirty[stream] = true
	}
	for name := range r.dirty {
		if err := streams.Put([]byte(name), r.streams[name].encode()); err != nil {
			return fmt.Errorf("rewrite stream state %q: %w", name, err)
		}
	}
	for _, k := range r.badCursors {
		if err := cursors.Delete(k); err != nil {
			return fmt.Errorf("delete bad cursor: %w", err)
		}
	}
	for id := range r.fixCursors {
		if err := cursors.Put(id.key(), r.cursors[id].encode()); err != nil {
			return fmt.Errorf("rewrite cursor: %w", err)
		}
	}
	return nil
}
