package spool

import (
	"fmt"
	"slices"
	"time"

	"github.com/edgespool/edgespool/spool/internal/boltpages"
	bolt "go.etcd.io/bbolt"
)

// Salvage copies whatever still reads back with a valid checksum from a
// damaged file into a fresh one, in three steps:
//
//  1. If bbolt can still open the file read-only, each stream is read
//     through the tree: forward from its first record until a damaged page
//     stops the cursor, then backward from its last record.
//  2. A page scan (pagescan.go) finds the newest stream states and cursors
//     on any leaf page, whether the tree still reaches it or not.
//  3. A second page scan adds every record whose checksum holds for a known
//     stream and whose Seq lies above the stream's Trimmed mark and above
//     the cursors of all its consumers: records already gone for good are
//     not brought back, anything else may come back once more (at least
//     once, never lost).

type salvageReport struct {
	kept, lost uint64
	lostBy     map[string]uint64
}

const salvageChunk = 8192

// salvage copies src into dst (a new file). The report is valid even when
// the error is not nil.
func (s *Spool) salvage(src, dst string) (salvageReport, error) {
	rep := salvageReport{lostBy: map[string]uint64{}}
	out, err := bolt.Open(dst, 0o600, &bolt.Options{NoSync: true, NoFreelistSync: true,
		FreelistType: bolt.FreelistMapType, Timeout: s.opts.LockTimeout})
	if err != nil {
		return rep, fmt.Errorf("create salvage file: %w", err)
	}
	err = s.salvageInto(src, out, &rep)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return rep, err
}

// salvaged is the state gathered from the damaged file.
type salvaged struct {
	res     *scanResult       // states and cursors found
	treeSt  map[string]bool   // state read through the tree
	treeCur map[cursorID]bool // cursor read through the tree
	names   []string
	maxSeq  map[string]uint64 // highest Seq seen on any page, kept or not
}

func (s *Spool) salvageInto(src string, out *bolt.DB, rep *salvageReport) error {
	if err := out.Update(initBuckets); err != nil {
		return err
	}
	sv := &salvaged{res: &scanResult{streams: map[string]*streamState{}, cursors: map[cursorID]*cursorState{},
		dirty: map[string]bool{}, rebuilt: map[string]bool{}, fixCursors: map[cursorID]bool{}},
		treeSt: map[string]bool{}, treeCur: map[cursorID]bool{}, maxSeq: map[string]uint64{}}
	if err := s.salvageTree(src, out, sv); err != nil {
		return err
	}
	if err := guard(func() error { return sv.scanMeta(src, s.opts) }); err != nil {
		s.log.Warn("salvage: page scan for states failed", "err", err)
	}
	if err := s.salvagePages(src, out, sv); err != nil {
		return err
	}
	return s.finishSalvage(out, sv, rep)
}

// salvageTree copies what the tree still reaches (step 1).
func (s *Spool) salvageTree(src string, out *bolt.DB, sv *salvaged) error {
	ro, _, err := openBolt(src, &bolt.Options{ReadOnly: true, Timeout: s.opts.LockTimeout})
	if err != nil {
		s.log.Warn("salvage: bbolt cannot open the damaged file; using the page scan only", "err", err)
		return nil
	}
	defer func() { _ = guard(ro.Close) }()
	tx, err := ro.Begin(false)
	if err != nil {
		return nil
	}
	defer func() { _ = guard(tx.Rollback) }()
	_ = guard(func() error { sv.res.scanStates(tx.Bucket(bucketStreams)); return nil })
	_ = guard(func() error { sv.res.scanCursors(tx.Bucket(bucketCursors)); return nil })
	for name := range sv.res.streams {
		sv.treeSt[name] = !sv.res.rebuilt[name]
	}
	for id := range sv.res.cursors {
		sv.treeCur[id] = true
	}
	for _, name := range treeNames(tx, sv.res) {
		if err := salvageStream(tx, out, name); err != nil {
			return err
		}
	}
	return nil
}

// treeNames lists the streams found through the tree.
func treeNames(tx *bolt.Tx, res *scanResult) []string {
	var names []string
	_ = guard(func() error {
		if root := tx.Bucket(bucketRecords); root != nil {
			return root.ForEach(func(k, v []byte) error {
				if v == nil && checkName("stream", string(k)) == nil {
					names = append(names, string(k))
				}
				return nil
			})
		}
		return nil
	})
	for n := range res.streams {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// salvageStream copies the readable records of one stream through the tree.
func salvageStream(tx *bolt.Tx, out *bolt.DB, name string) error {
	w := &salvageWriter{out: out}
	var stop uint64
	var b *bolt.Bucket
	_ = guard(func() error { b = recordsBucket(tx, name); return nil })
	if b == nil {
		return nil
	}
	ferr := guard(func() error {
		cur := b.Cursor()
		for k, v := cur.First(); k != nil; k, v = cur.Next() {
			seq, _ := keySeq(k)
			stop = max(stop, seq)
			if err := w.add(name, seq, v); err != nil {
				return err
			}
		}
		stop = ^uint64(0) // the forward pass reached the end
		return nil
	})
	if err := w.flush(); err != nil || ferr == nil {
		return err
	}
	_ = guard(func() error {
		cur := b.Cursor()
		for k, v := cur.Last(); k != nil; k, v = cur.Prev() {
			if seq, _ := keySeq(k); seq > stop {
				if err := w.add(name, seq, v); err != nil {
					return err
				}
			} else {
				return nil
			}
		}
		return nil
	})
	return w.flush()
}

// scanMeta finds stream states and cursors on any page (step 2) that the
// tree did not yield: for each the newest version, i.e. the highest LastSeq
// or cursor Seq. What the tree yields wins: a page may also hold a value of
// a transaction that never committed.
func (sv *salvaged) scanMeta(src string, o Options) error {
	return boltpages.Scan(src, func(k, v []byte) {
		if len(v) == streamStateLen && checkName("stream", string(k)) == nil {
			if st, err := decodeStreamState(v); err == nil {
				sv.mergeState(string(k), st)
			}
			return
		}
		if id, ok := parseCursorKey(k); ok {
			if cs, err := decodeCursor(v); err == nil {
				if cur := sv.res.cursors[id]; !sv.treeCur[id] && (cur == nil || cs.Seq > cur.Seq) {
					sv.res.cursors[id] = &cs
				}
			}
		}
	})
}

func (sv *salvaged) mergeState(name string, st streamState) {
	if sv.treeSt[name] {
		return
	}
	cur := sv.res.streams[name]
	if cur == nil || sv.res.rebuilt[name] || st.LastSeq > cur.LastSeq || st.LastSeq == cur.LastSeq && st.Trimmed > cur.Trimmed {
		sv.res.streams[name] = &st
		delete(sv.res.rebuilt, name)
	}
}

// floor returns the Seq at and below which records of stream are gone for
// good: its Trimmed mark, or the lowest cursor of its configured consumers.
func (sv *salvaged) floor(stream string, o Options) uint64 {
	var fl uint64
	if st := sv.res.streams[stream]; st != nil {
		fl = st.Trimmed
	}
	cons := o.Consumers[stream]
	if len(cons) == 0 {
		return fl
	}
	low := ^uint64(0)
	for _, c := range cons {
		var seq uint64
		if cs := sv.res.cursors[cursorID{c, stream}]; cs != nil {
			seq = cs.Seq
		}
		low = min(low, seq)
	}
	return max(fl, low)
}

// salvagePages adds the records found on any page (step 3).
func (s *Spool) salvagePages(src string, out *bolt.DB, sv *salvaged) error {
	names := map[string]bool{}
	for n := range sv.res.streams {
		names[n] = true
	}
	for id := range sv.res.cursors {
		names[id.Stream] = true
	}
	for n := range s.opts.Priority {
		names[n] = true
	}
	for n := range s.opts.Consumers {
		names[n] = true
	}
	floors := map[string]uint64{}
	for n := range names {
		sv.names = append(sv.names, n)
		floors[n] = sv.floor(n, s.opts)
	}
	slices.Sort(sv.names)
	w := &salvageWriter{out: out}
	var werr error
	err := guard(func() error {
		return boltpages.Scan(src, func(k, v []byte) {
			seq, ok := keySeq(k)
			if !ok || werr != nil || len(v) <= recordHeaderLen || v[0] != formatVersion {
				return
			}
			for _, n := range sv.names {
				if _, err := decodeRecord(n, seq, v); err == nil {
					sv.maxSeq[n] = max(sv.maxSeq[n], seq)
					if seq > floors[n] {
						werr = w.add(n, seq, v)
					}
					return
				}
			}
		})
	})
	if err == nil {
		err = werr
	}
	if ferr := w.flush(); err == nil {
		err = ferr
	}
	return err
}

// salvageWriter buffers salvaged records and writes them in chunks.
type salvageWriter struct {
	out  *bolt.DB
	recs []salvagedRecord
}

type salvagedRecord struct {
	stream string
	seq    uint64
	v      []byte
}

func (w *salvageWriter) add(stream string, seq uint64, v []byte) error {
	if _, err := decodeRecord(stream, seq, v); err != nil {
		return nil
	}
	w.recs = append(w.recs, salvagedRecord{stream, seq, append([]byte(nil), v...)})
	if len(w.recs) >= salvageChunk {
		return w.flush()
	}
	return nil
}

func (w *salvageWriter) flush() error {
	if len(w.recs) == 0 {
		return nil
	}
	err := w.out.Update(func(tx *bolt.Tx) error {
		for _, r := range w.recs {
			b, err := tx.Bucket(bucketRecords).CreateBucketIfNotExists([]byte(r.stream))
			if err != nil {
				return err
			}
			b.FillPercent = 1.0
			if err := b.Put(seqKey(r.seq), r.v); err != nil {
				return err
			}
		}
		return nil
	})
	w.recs = w.recs[:0]
	if err != nil {
		return fmt.Errorf("write salvaged records: %w", err)
	}
	return nil
}

// finishSalvage counts what was kept, derives the stream states and writes
// them with the cursors.
func (s *Spool) finishSalvage(out *bolt.DB, sv *salvaged, rep *salvageReport) error {
	return out.Update(func(tx *bolt.Tx) error {
		root := tx.Bucket(bucketRecords)
		counts := map[string]streamCount{}
		err := root.ForEach(func(k, _ []byte) error {
			var c streamCount
			err := root.Bucket(k).ForEach(func(kk, v []byte) error {
				seq, _ := keySeq(kk)
				c.records++
				c.bytes += logicalSize(len(v))
				c.maxSeq = max(c.maxSeq, seq)
				return nil
			})
			counts[string(k)] = c
			return err
		})
		if err != nil {
			return err
		}
		for name, c := range counts {
			s.salvageState(sv, name, c, rep)
		}
		for name := range sv.res.streams {
			if _, ok := counts[name]; !ok {
				s.salvageState(sv, name, streamCount{}, rep)
			}
		}
		return writeSalvagedState(tx, sv.res)
	})
}

// salvageState computes the new state of a salvaged stream.
func (s *Spool) salvageState(sv *salvaged, name string, c streamCount, rep *salvageReport) {
	st := sv.res.streams[name]
	var lost uint64
	if st != nil && !sv.res.rebuilt[name] && st.Records > c.records {
		lost = st.Records - c.records
	}
	if st == nil {
		st = &streamState{}
		sv.res.streams[name] = st
	}
	st.LastSeq = max(st.LastSeq, c.maxSeq, sv.maxSeq[name])
	for id, cs := range sv.res.cursors {
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
