package spool

import (
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// runBatch applies a batch of ops in one transaction, commits it, releases
// the callers, and then runs any compaction the batch asked for or the file
// needs.
func (s *Spool) runBatch(batch []*op) {
	var compacts []*op
	work := batch[:0:0]
	for _, o := range batch {
		if o.kind == opCompact {
			compacts = append(compacts, o)
		} else {
			work = append(work, o)
		}
	}
	if purge := s.takePurges(); purge != nil {
		work = append(work, &op{kind: opPurge, purge: purge, done: make(chan struct{})})
	}
	if len(work) > 0 {
		s.commitOps(work, false)
	}
	if len(compacts) > 0 {
		err := s.compact("explicit")
		for _, o := range compacts {
			o.err = err
			close(o.done)
		}
		return
	}
	s.maybeAutoCompact()
}

// commitOps runs ops in one read-write transaction. With allStreams the
// ack retention covers every stream (used at open).
func (s *Spool) commitOps(ops []*op, allStreams bool) {
	start := time.Now()
	var w *wtx
	err := s.update(func(tx *bolt.Tx) error {
		w = s.newWtx(tx)
		for _, o := range ops {
			w.final = w.final || o.final
			o.err = w.apply(o)
			if o.err != nil && !opError(o.err) {
				return o.err
			}
		}
		if err := w.enforce(allStreams); err != nil {
			return err
		}
		if err := w.countLost(); err != nil {
			return err
		}
		s.usedBytes.Store(tx.Size()) // high water mark before this commit
		return w.writeStates()
	})
	if w != nil {
		w.endHandoffs(err == nil)
	}
	if err != nil {
		s.failOps(ops, err)
		return
	}
	w.publish()
	s.afterCommit(w, ops, time.Since(start))
	for _, o := range ops {
		close(o.done)
	}
}

// update runs fn in a guarded read-write transaction and commits it.
func (s *Spool) update(fn func(tx *bolt.Tx) error) error {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	if s.db == nil {
		return ErrClosed
	}
	return guard(func() error {
		tx, err := s.db.Begin(true)
		if err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		defer func() { _ = tx.Rollback() }()
		if err := fn(tx); err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		return nil
	})
}

// failOps reports a failed transaction to every op of the batch.
func (s *Spool) failOps(ops []*op, err error) {
	s.m.commitErrors.Inc()
	if errors.Is(err, errDamaged) {
		s.damaged(err)
	} else {
		s.log.Error("spool commit failed", "err", err)
	}
	for _, o := range ops {
		o.err = fmt.Errorf("transaction: %w", err)
		close(o.done)
	}
}

// afterCommit updates metrics, wakes readers and logs state changes.
func (s *Spool) afterCommit(w *wtx, ops []*op, took time.Duration) {
	s.m.observeCommit(w, took, s.opts.NoSync)
	if len(w.appended) > 0 {
		added := make(map[string]bool, len(w.appended))
		for name := range w.appended {
			added[name] = true
		}
		s.notify.fire(added)
	}
	total, _ := w.usage()
	s.ret.observe(s.log, total, s.capBytes(), w.dropped, w.rejected)
}

// noteCorrupt records a record that failed its checksum on read; the next
// commit deletes and counts it.
func (s *Spool) noteCorrupt(stream string, seq uint64) {
	s.corruptMu.Lock()
	defer s.corruptMu.Unlock()
	m := s.corruptPending[stream]
	if m == nil {
		m = map[uint64]bool{}
		s.corruptPending[stream] = m
	}
	if !m[seq] {
		m[seq] = true
		s.log.Error("spool record failed its checksum; skipped", "stream", stream, "seq", seq)
		s.q.wake()
	}
}

func (s *Spool) takePurges() map[string][]uint64 {
	s.corruptMu.Lock()
	defer s.corruptMu.Unlock()
	if len(s.corruptPending) == 0 {
		return nil
	}
	out := make(map[string][]uint64, len(s.corruptPending))
	for stream, m := range s.corruptPending {
		for seq := range m {
			out[stream] = append(out[stream], seq)
		}
	}
	s.corruptPending = map[string]map[uint64]bool{}
	return out
}

func (s *Spool) hasPurges() bool {
	s.corruptMu.Lock()
	defer s.corruptMu.Unlock()
	return len(s.corruptPending) > 0
}
