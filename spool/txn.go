package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
)

// errDamaged marks a transaction that bbolt aborted with a panic or a
// memory fault: a page of the file is damaged.
var errDamaged = fmt.Errorf("panic on a damaged page: %w", ErrCorrupt)

// guard runs fn with memory faults turned into panics and recovers any
// panic as errDamaged: bbolt panics (or faults) on damaged pages.
func guard(fn func() error) (err error) {
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("bbolt: %v: %w", r, errDamaged)
		}
	}()
	return fn()
}

// view runs fn in a read transaction, guarded.
func (s *Spool) view(fn func(tx *bolt.Tx) error) error {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	if s.db == nil {
		return ErrClosed
	}
	tx, err := s.db.Begin(false)
	if err != nil {
		return fmt.Errorf("begin read: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	err = guard(func() error { return fn(tx) })
	if errors.Is(err, errDamaged) {
		s.damaged(err)
	}
	return err
}

// wtx is one read-write transaction of the commit loop with working copies
// of the state it touches; the copies are published only after the commit.
type wtx struct {
	s   *Spool
	tx  *bolt.Tx
	now int64

	streams map[string]*streamState
	cursors map[cursorID]*cursorState // nil value: cursor deleted
	buckets map[string]*bolt.Bucket
	acked   map[string]bool // streams whose cursors moved

	appended      map[string]uint64
	appendedBytes map[string]int64
	dropped       map[dropKey]uint64
	consDropped   map[cursorID]uint64
	deleted       map[string]uint64
	corrupt       map[string]uint64
	rejected      map[string]uint64

	// handoff accounting (handoff.go)
	hoLocked    bool                    // s.ho.mu held until after the commit
	hoPending   map[cursorID][]seqRange // dropped records the consumer holds
	lostCounted map[cursorID]uint64     // losses added to the cursors
	final       bool                    // the spool closes: pending records are lost
}

type dropKey struct{ stream, reason string }

func (s *Spool) newWtx(tx *bolt.Tx) *wtx {
	return &wtx{
		s: s, tx: tx, now: s.opts.Now().UnixNano(),
		streams: map[string]*streamState{}, cursors: map[cursorID]*cursorState{},
		buckets: map[string]*bolt.Bucket{}, acked: map[string]bool{},
		appended: map[string]uint64{}, appendedBytes: map[string]int64{},
		dropped: map[dropKey]uint64{}, consDropped: map[cursorID]uint64{},
		deleted: map[string]uint64{}, corrupt: map[string]uint64{}, rejected: map[string]uint64{},
		hoPending: map[cursorID][]seqRange{},
	}
}

// stream returns the working copy of a stream's state.
func (w *wtx) stream(name string) *streamState {
	if st := w.streams[name]; st != nil {
		return st
	}
	st := &streamState{}
	if c := w.s.streams[name]; c != nil {
		*st = *c
	}
	w.streams[name] = st
	return st
}

// peekStream returns the state without marking it touched.
func (w *wtx) peekStream(name string) streamState {
	if st := w.streams[name]; st != nil {
		return *st
	}
	if c := w.s.streams[name]; c != nil {
		return *c
	}
	return streamState{}
}

// cursor returns the working copy of a cursor (zero if absent).
func (w *wtx) cursor(id cursorID) *cursorState {
	if c, ok := w.cursors[id]; ok && c != nil {
		return c
	}
	c := &cursorState{}
	if cur := w.s.cursors[id]; cur != nil {
		*c = *cur
	}
	w.cursors[id] = c
	return c
}

// cursorSeq returns a cursor's position without touching it.
func (w *wtx) cursorSeq(id cursorID) uint64 {
	if c, ok := w.cursors[id]; ok {
		if c == nil {
			return 0
		}
		return c.Seq
	}
	if c := w.s.cursors[id]; c != nil {
		return c.Seq
	}
	return 0
}

// eachCursor calls fn for every live cursor of stream.
func (w *wtx) eachCursor(stream string, fn func(id cursorID, seq uint64)) {
	for id := range w.s.cursors {
		if _, ok := w.cursors[id]; !ok && id.Stream == stream {
			fn(id, w.s.cursors[id].Seq)
		}
	}
	for id, c := range w.cursors {
		if c != nil && id.Stream == stream {
			fn(id, c.Seq)
		}
	}
}

// streamNames returns the names of all known streams.
func (w *wtx) streamNames() []string {
	names := make([]string, 0, len(w.s.streams)+len(w.streams))
	for n := range w.s.streams {
		names = append(names, n)
	}
	for n := range w.streams {
		if w.s.streams[n] == nil {
			names = append(names, n)
		}
	}
	return names
}

// bucket returns the records bucket of a stream, creating it if needed.
func (w *wtx) bucket(name string) (*bolt.Bucket, error) {
	if b := w.buckets[name]; b != nil {
		return b, nil
	}
	root := w.tx.Bucket(bucketRecords)
	if root == nil {
		return nil, fmt.Errorf("records bucket missing: %w", ErrCorrupt)
	}
	b, err := root.CreateBucketIfNotExists([]byte(name))
	if err != nil {
		return nil, fmt.Errorf("create stream bucket %q: %w", name, err)
	}
	b.FillPercent = 1.0
	w.buckets[name] = b
	return b, nil
}

// apply runs one op. Errors wrapping ErrFull or ErrOutOfRange belong to the
// op alone; any other error aborts the transaction.
func (w *wtx) apply(o *op) error {
	switch o.kind {
	case opAppend:
		return w.appendRecords(o.recs, o.enc)
	case opAck:
		return w.ack(o.consumer, o.stream, o.seq)
	case opCommit:
		return w.commit(o)
	case opPurge:
		return w.purge(o.purge)
	case opRemove:
		return w.removeConsumer(o)
	}
	return nil
}

func opError(err error) bool {
	return errors.Is(err, ErrFull) || errors.Is(err, ErrOutOfRange) || errors.Is(err, ErrNoConsumer)
}

// appendRecords assigns sequence numbers and stores recs, whose values enc
// holds encoded.
func (w *wtx) appendRecords(recs []Record, enc *encodedBatch) error {
	if err := w.admit(recs); err != nil {
		return err
	}
	keys := make([]byte, 0, 8*len(recs))
	for i := 0; i < len(recs); {
		n, err := w.appendRun(recs[i:], enc.vals[i:], enc.partial[i:], &keys)
		if err != nil {
			return err
		}
		i += n
	}
	return nil
}

// appendRun stores the leading records that share one stream and returns
// how many it stored.
func (w *wtx) appendRun(recs []Record, vals [][]byte, partial []uint32, keys *[]byte) (int, error) {
	stream := recs[0].Stream
	b, err := w.bucket(stream)
	if err != nil {
		return 0, err
	}
	st := w.stream(stream)
	var n int
	var size int64
	for n < len(recs) && recs[n].Stream == stream {
		st.LastSeq++
		recs[n].Seq = st.LastSeq
		sealRecord(vals[n], partial[n], st.LastSeq)
		*keys = binary64(*keys, st.LastSeq)
		if err := b.Put((*keys)[len(*keys)-8:], vals[n]); err != nil {
			return 0, fmt.Errorf("put %s/%d: %w", stream, st.LastSeq, err)
		}
		size += logicalSize(len(vals[n]))
		n++
	}
	st.Records += uint64(n)
	st.Bytes += size
	w.appended[stream] += uint64(n)
	w.appendedBytes[stream] += size
	return n, nil
}

func binary64(dst []byte, x uint64) []byte {
	return append(dst, byte(x>>56), byte(x>>48), byte(x>>40), byte(x>>32),
		byte(x>>24), byte(x>>16), byte(x>>8), byte(x))
}

// ack moves a cursor forward.
func (w *wtx) ack(consumer, stream string, seq uint64) error {
	id := cursorID{consumer, stream}
	if seq <= w.cursorSeq(id) {
		return nil
	}
	if last := w.peekStream(stream).LastSeq; seq > last {
		return fmt.Errorf("ack %d beyond last seq %d: %w", seq, last, ErrOutOfRange)
	}
	c := w.cursor(id)
	c.Seq = seq
	w.acked[stream] = true
	return w.putCursor(id, c)
}

// commit appends derived records and sets a cursor with its meta.
func (w *wtx) commit(o *op) error {
	id := cursorID{o.consumer, o.stream}
	if cur := w.cursorSeq(id); o.seq < cur {
		return fmt.Errorf("commit at %d below cursor %d: %w", o.seq, cur, ErrOutOfRange)
	}
	if last := w.peekStream(o.stream).LastSeq; o.seq > last {
		return fmt.Errorf("commit at %d beyond last seq %d: %w", o.seq, last, ErrOutOfRange)
	}
	if err := w.appendRecords(o.recs, o.enc); err != nil {
		return err
	}
	c := w.cursor(id)
	c.Seq, c.Meta = o.seq, o.meta
	w.acked[o.stream] = true
	return w.putCursor(id, c)
}

func (w *wtx) putCursor(id cursorID, c *cursorState) error {
	b := w.tx.Bucket(bucketCursors)
	if b == nil {
		return fmt.Errorf("cursors bucket missing: %w", ErrCorrupt)
	}
	if err := b.Put(id.key(), c.encode()); err != nil {
		return fmt.Errorf("put cursor %s/%s: %w", id.Consumer, id.Stream, err)
	}
	return nil
}

func (w *wtx) deleteCursor(id cursorID) error {
	w.cursors[id] = nil
	if b := w.tx.Bucket(bucketCursors); b != nil {
		return b.Delete(id.key())
	}
	return nil
}

// purge deletes records that failed their checksum on read.
func (w *wtx) purge(seqs map[string][]uint64) error {
	for stream, list := range seqs {
		b, err := w.bucket(stream)
		if err != nil {
			return err
		}
		for _, seq := range list {
			k := seqKey(seq)
			v := b.Get(k)
			if v == nil {
				continue
			}
			if _, err := decodeRecord(stream, seq, v); err == nil {
				continue
			}
			if err := w.removeRecord(b, stream, k, len(v)); err != nil {
				return err
			}
		}
	}
	return nil
}

// removeRecord deletes one corrupt record and counts it.
func (w *wtx) removeRecord(b *bolt.Bucket, stream string, k []byte, vlen int) error {
	if err := b.Delete(k); err != nil {
		return fmt.Errorf("delete corrupt %s/%x: %w", stream, k, err)
	}
	st := w.stream(stream)
	st.Records--
	st.Bytes -= logicalSize(vlen)
	st.Corrupt++
	w.corrupt[stream]++
	return nil
}

// writeStates stores the touched stream states.
func (w *wtx) writeStates() error {
	b := w.tx.Bucket(bucketStreams)
	if b == nil {
		return fmt.Errorf("streams bucket missing: %w", ErrCorrupt)
	}
	for name, st := range w.streams {
		if err := b.Put([]byte(name), st.encode()); err != nil {
			return fmt.Errorf("put stream state %q: %w", name, err)
		}
	}
	return nil
}

// publish makes the committed working copies visible.
func (w *wtx) publish() {
	s := w.s
	s.stMu.Lock()
	defer s.stMu.Unlock()
	for name, st := range w.streams {
		s.streams[name] = st
	}
	for id, c := range w.cursors {
		if c == nil {
			delete(s.cursors, id)
		} else {
			s.cursors[id] = c
		}
	}
}

// trimFront deletes records from the oldest end of a stream while more
// returns true, and returns how many and how many logical bytes it deleted.
// Each deleted record is passed to onDelete.
//
// A first pass finds the last record to delete; the second deletes from
// there backwards with Delete and Prev. Delete followed by Next skips an
// element when the leaf was already changed in the same transaction (the
// cursor then walks the node, whose elements shift); elements before the
// deleted one never shift, so Prev is always right.
func (w *wtx) trimFront(stream string, more func(seq uint64, v []byte) bool,
	onDelete func(seq uint64)) (n uint64, freed int64, err error) {
	b, err := w.bucket(stream)
	if err != nil {
		return 0, 0, err
	}
	c := b.Cursor()
	var last [8]byte
	for k, v := c.First(); k != nil; k, v = c.Next() {
		seq, _ := keySeq(k)
		if !more(seq, v) {
			break
		}
		n++
		freed += logicalSize(len(v))
		copy(last[:], k)
		if onDelete != nil {
			onDelete(seq)
		}
	}
	if n == 0 {
		return 0, 0, nil
	}
	w.s.mapped.count(freed)
	if err := deleteBackwards(c, last[:], n); err != nil {
		return 0, 0, fmt.Errorf("trim %s: %w", stream, err)
	}
	st := w.stream(stream)
	st.Records -= n
	st.Bytes -= freed
	st.Trimmed = max(st.Trimmed, binary.BigEndian.Uint64(last[:]))
	return n, freed, nil
}

// deleteBackwards deletes n records ending at key last.
func deleteBackwards(c *bolt.Cursor, last []byte, n uint64) error {
	k, _ := c.Seek(last)
	for i := uint64(0); i < n; i++ {
		if k == nil {
			return fmt.Errorf("record vanished during trim: %w", ErrCorrupt)
		}
		if err := c.Delete(); err != nil {
			return err
		}
		k, _ = c.Prev()
	}
	return nil
}

// lockHandoffs holds the handoff state until the transaction ends, so that
// no read starts between a drop's decision and its commit.
func (w *wtx) lockHandoffs() {
	if !w.hoLocked {
		w.s.ho.mu.Lock()
		w.hoLocked = true
	}
}

// countLost adds the losses found by reads since the last commit (and, at
// close, the pending records) to the cursors.
func (w *wtx) countLost() error {
	if w.hoLocked {
		w.lostCounted = w.s.ho.takeLost(w.final)
	} else {
		w.s.ho.mu.Lock()
		w.lostCounted = w.s.ho.takeLost(w.final)
		w.s.ho.mu.Unlock()
	}
	for id, n := range w.lostCounted {
		if c, ok := w.cursors[id]; ok && c == nil {
			continue // removed in this transaction
		}
		if err := w.addDropped(id, n); err != nil {
			return err
		}
	}
	return nil
}

// endHandoffs applies the handoff changes of a committed transaction and
// releases the handoff state.
func (w *wtx) endHandoffs(committed bool) {
	if !w.hoLocked {
		w.s.ho.mu.Lock()
	}
	defer w.s.ho.mu.Unlock()
	if !committed {
		return
	}
	for id, rs := range w.hoPending {
		w.s.ho.addPending(id, rs)
	}
	for id, c := range w.cursors {
		if c == nil {
			w.s.ho.forget(id)
		} else {
			w.s.ho.delivered(id, c.Seq)
		}
	}
	w.s.ho.settle(w.lostCounted, w.final)
}

// commitTime is when the transaction started, for age decisions.
func (w *wtx) commitTime() time.Time { return time.Unix(0, w.now) }
