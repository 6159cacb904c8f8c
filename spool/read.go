package spool

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

const (
	defaultReadMax = 1024
	arenaChunk     = 64 << 10
)

// Read returns the records after consumer's durable cursor on stream (at
// most max; max <= 0 means 1024), as ReadFor.
func (s *Spool) Read(consumer, stream string, max int) (Batch, error) {
	if err := checkCursorArgs(consumer, stream); err != nil {
		return Batch{}, err
	}
	return s.ReadFor(consumer, stream, s.cursor(cursorID{consumer, stream}).Seq, max)
}

// ReadAfter returns up to max records of stream with Seq > after, with
// consecutive sequence numbers (see Batch).
func (s *Spool) ReadAfter(stream string, after uint64, max int) (Batch, error) {
	if err := checkName("stream", stream); err != nil {
		return Batch{}, err
	}
	if max <= 0 {
		max = defaultReadMax
	}
	if s.closed.Load() {
		return Batch{}, ErrClosed
	}
	var batch Batch
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		batch, err = s.readTx(tx, stream, after, max)
		return err
	})
	if err != nil {
		return Batch{}, fmt.Errorf("spool read %s after %d: %w", stream, after, err)
	}
	return batch, nil
}

// readTx collects the batch inside a read transaction.
func (s *Spool) readTx(tx *bolt.Tx, stream string, after uint64, max int) (Batch, error) {
	last := lastSeqTx(tx, stream)
	var batch Batch
	b := recordsBucket(tx, stream)
	if b == nil || after >= last {
		return batch, nil
	}
	rd := newReader(stream, min(max, int(min(last-after, 1<<20))))
	expect := after + 1
	var read int64
	defer func() { s.mapped.add(tx, read) }()
	c := b.Cursor()
	for k, v := c.Seek(seqKey(after + 1)); k != nil && len(rd.recs) < max; k, v = c.Next() {
		seq, ok := keySeq(k)
		if !ok || seq <= after {
			continue
		}
		if seq != expect && len(rd.recs) > 0 {
			break
		}
		read += int64(len(k) + len(v))
		if !rd.add(seq, v) {
			s.noteCorrupt(stream, seq)
			if len(rd.recs) > 0 {
				break
			}
		}
		expect = seq + 1
	}
	batch.Records = rd.recs
	if len(rd.recs) > 0 {
		batch.Skipped = rd.recs[0].Seq - after - 1
	} else {
		batch.Skipped = last - after
	}
	return batch, nil
}

// reader decodes records into a batch, copying values into shared chunks
// and interning keys.
type reader struct {
	stream string
	recs   []Record
	arena  []byte
	keys   map[string]string
}

func newReader(stream string, hint int) *reader {
	return &reader{stream: stream, recs: make([]Record, 0, hint), keys: map[string]string{}}
}

// add decodes one record; false if it is corrupt.
func (r *reader) add(seq uint64, v []byte) bool {
	rv, err := decodeRecord(r.stream, seq, v)
	if err != nil {
		return false
	}
	key, ok := r.keys[string(rv.Key)]
	if !ok {
		key = string(rv.Key)
		r.keys[key] = key
	}
	r.recs = append(r.recs, Record{Stream: r.stream, Seq: seq, Key: key, Time: rv.Time, Value: r.copy(rv.Value)})
	return true
}

func (r *reader) copy(b []byte) []byte {
	if len(b) > arenaChunk/4 {
		return append([]byte(nil), b...)
	}
	if cap(r.arena)-len(r.arena) < len(b) {
		r.arena = make([]byte, 0, arenaChunk)
	}
	start := len(r.arena)
	r.arena = append(r.arena, b...)
	return r.arena[start:len(r.arena):len(r.arena)]
}

func recordsBucket(tx *bolt.Tx, stream string) *bolt.Bucket {
	root := tx.Bucket(bucketRecords)
	if root == nil {
		return nil
	}
	return root.Bucket([]byte(stream))
}

// lastSeqTx returns the stream's LastSeq as of the transaction.
func lastSeqTx(tx *bolt.Tx, stream string) uint64 {
	b := tx.Bucket(bucketStreams)
	if b == nil {
		return 0
	}
	v := b.Get([]byte(stream))
	if len(v) != streamStateLen {
		return 0
	}
	return binary.BigEndian.Uint64(v[5:])
}

// Scan calls fn for every record of stream with Seq > after, in order,
// until fn returns an error (which Scan returns). It reads in batches, so
// concurrent appends may or may not be seen.
func (s *Spool) Scan(stream string, after uint64, fn func(Record) error) error {
	for {
		b, err := s.ReadAfter(stream, after, defaultReadMax)
		if err != nil {
			return err
		}
		if len(b.Records) == 0 {
			return nil
		}
		for _, r := range b.Records {
			if err := fn(r); err != nil {
				return err
			}
		}
		after = b.Last(after)
	}
}

// Cursor returns consumer's durable cursor on stream and its meta.
func (s *Spool) Cursor(consumer, stream string) (uint64, []byte, error) {
	if err := checkCursorArgs(consumer, stream); err != nil {
		return 0, nil, err
	}
	if s.closed.Load() {
		return 0, nil, ErrClosed
	}
	c := s.cursor(cursorID{consumer, stream})
	return c.Seq, append([]byte(nil), c.Meta...), nil
}

// cursor returns a copy of a committed cursor (zero if absent).
func (s *Spool) cursor(id cursorID) cursorState {
	s.stMu.Lock()
	defer s.stMu.Unlock()
	if c := s.cursors[id]; c != nil {
		return *c
	}
	return cursorState{}
}
