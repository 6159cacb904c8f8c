package spool

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Salvage copies whatever still reads back with a valid checksum from a
// damaged file into a fresh one. Each stream is read forward from its first
// record until the first damaged page, then backward from its last record
// down to where the forward pass stopped, so one bad page costs only the
// records on it.

type salvageReport struct {
	kept, lost uint64
	lostBy     map[string]uint64
}

const salvageChunk = 8192

// salvage copies src into dst (a new file). The report is valid even when
// the error is not nil.
func (s *Spool) salvage(src, dst string) (salvageReport, error) {
	rep := salvageReport{lostBy: map[string]uint64{}}
	ro, _, err := openBolt(src, &bolt.Options{ReadOnly: true, Timeout: s.opts.LockTimeout})
	if err != nil {
		return rep, fmt.Errorf("open damaged file read-only: %w", err)
	}
	defer func() { _ = guard(ro.Close) }()
	out, err := bolt.Open(dst, 0o600, &bolt.Options{NoSync: true, NoFreelistSync: true,
		FreelistType: bolt.FreelistMapType, Timeout: s.opts.LockTimeout})
	if err != nil {
		return rep, fmt.Errorf("create salvage file: %w", err)
	}
	err = s.salvageInto(ro, out, &rep)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return rep, err
}

func (s *Spool) salvageInto(ro, out *bolt.DB, rep *salvageReport) error {
	tx, err := ro.Begin(false)
	if err != nil {
		return fmt.Errorf("begin read: %w", err)
	}
	defer func() { _ = guard(tx.Rollback) }()
	res := &scanResult{streams: map[string]*streamState{}, cursors: map[cursorID]*cursorState{},
		dirty: map[string]bool{}, rebuilt: map[string]bool{}, fixCursors: map[cursorID]bool{}}
	_ = guard(func() error { res.scanStates(tx.Bucket(bucketStreams)); return nil })
	_ = guard(func() error { res.scanCursors(tx.Bucket(bucketCursors)); return nil })
	if err := out.Update(initBuckets); err != nil {
		return err
	}
	for _, name := range salvageNames(tx, res) {
		c, err := salvageStream(tx, out, name)
		if err != nil {
			return err
		}
		s.salvageState(res, name, c, rep)
	}
	return out.Update(func(otx *bolt.Tx) error { return writeSalvagedState(otx, res) })
}

// salvageNames lists the streams to salvage: from the records bucket when
// it reads, and from the stream states and cursors.
func salvageNames(tx *bolt.Tx, res *scanResult) []string {
	seen := map[string]bool{}
	var names []string
	add := func(n string) {
		if !seen[n] && checkName("stream", n) == nil {
			seen[n] = true
			names = append(names, n)
		}
	}
	_ = guard(func() error {
		if root := tx.Bucket(bucketRecords); root != nil {
			return root.ForEach(func(k, v []byte) error {
				if v == nil {
					add(string(k))
				}
				return nil
			})
		}
		return nil
	})
	for n := range res.streams {
		add(n)
	}
	for id := range res.cursors {
		add(id.Stream)
	}
	return names
}

// salvageStream copies the readable records of one stream.
func salvageStream(tx *bolt.Tx, out *bolt.DB, name string) (streamCount, error) {
	var c streamCount
	w := &salvageWriter{out: out, stream: name}
	var stop uint64
	var b *bolt.Bucket
	_ = guard(func() error { b = recordsBucket(tx, name); return nil })
	if b == nil {
		return c, nil
	}
	ferr := guard(func() error {
		cur := b.Cursor()
		for k, v := cur.First(); k != nil; k, v = cur.Next() {
			seq, _ := keySeq(k)
			stop = max(stop, seq)
			if err := w.add(&c, seq, v); err != nil {
				return err
			}
		}
		stop = ^uint64(0) // the forward pass reached the end
		return nil
	})
	if err := w.flush(); err != nil {
		return c, err
	}
	if ferr == nil {
		return c, nil
	}
	_ = guard(func() error {
		cur := b.Cursor()
		for k, v := cur.Last(); k != nil; k, v = cur.Prev() {
			seq, _ := keySeq(k)
			if seq <= stop {
				return nil
			}
			if err := w.add(&c, seq, v); err != nil {
				return err
			}
		}
		return nil
	})
	return c, w.flush()
}

// salvageWriter buffers salvaged records and writes them in chunks.
type salvageWriter struct {
	out    *bolt.DB
	stream string
	keys   [][]byte
	vals   [][]byte
}

func (w *salvageWriter) add(c *streamCount, seq uint64, v []byte) error {
	if _, err := decodeRecord(seq, v); err != nil {
		c.bad++
		return nil
	}
	c.records++
	c.bytes += logicalSize(len(v))
	c.maxSeq = max(c.maxSeq, seq)
	w.keys = append(w.keys, seqKey(seq))
	w.vals = append(w.vals, append([]byte(nil), v...))
	if len(w.keys) >= salvageChunk {
		return w.flush()
	}
	return nil
}

func (w *salvageWriter) flush() error {
	if len(w.keys) == 0 {
		return nil
	}
	err := w.out.Update(func(tx *bolt.Tx) error {
		b, err := tx.Bucket(bucketRecords).CreateBucketIfNotExists([]byte(w.stream))
		if err != nil {
			return err
		}
		b.FillPercent = 1.0
		for i := range w.keys {
			if err := b.Put(w.keys[i], w.vals[i]); err != nil {
				return err
			}
		}
		return nil
	})
	w.keys, w.vals = w.keys[:0], w.vals[:0]
	if err != nil {
		return fmt.Errorf("write salvaged records: %w", err)
	}
	return nil
}

// salvageState computes the new state of a salvaged stream.
func (s *Spool) salvageState(res *scanResult, name string, c streamCount, rep *salvageReport) {
	st := res.streams[name]
	lost := c.bad
	if st != nil && !res.rebuilt[name] && st.Records > c.records {
		lost = max(lost, st.Records-c.records)
	}
	if st == nil {
		st = &streamState{}
		res.streams[name] = st
	}
	st.LastSeq = max(st.LastSeq, c.maxSeq)
	for id, cs := range res.cursors {
		if id.Stream == name {
			st.LastSeq = max(st.LastSeq, cs.Seq)
		}
	}
	st.Records, st.Bytes, st.Corrupt = c.records, c.bytes, st.Corrupt+lost
	rep.kept += c.records
	rep.lost += lost
	if lost > 0 {
		rep.lostBy[name] += lost
	}
}

func writeSalvagedState(tx *bolt.Tx, res *scanResult) error {
	for name, st := range res.streams {
		if err := tx.Bucket(bucketStreams).Put([]byte(name), st.encode()); err != nil {
			return err
		}
	}
	for id, cs := range res.cursors {
		if err := tx.Bucket(bucketCursors).Put(id.key(), cs.encode()); err != nil {
			return err
		}
	}
	return tx.Bucket(bucketSpool).Put([]byte("salvaged"), []byte(time.Now().UTC().Format(time.RFC3339)))
}
