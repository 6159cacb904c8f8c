package spool

import (
	"os"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Stats is a snapshot of the spool's state.
type Stats struct {
	Streams   map[string]StreamStats
	Consumers []ConsumerStats // sorted by consumer, then stream

	FileBytes    int64 // size of the bbolt file
	LogicalBytes int64 // keys and values of all records held
	CapBytes     int64 // effective byte cap
	Policy       string
}

// StreamStats describe one stream.
type StreamStats struct {
	Records  uint64
	Bytes    int64     // logical bytes held
	FirstSeq uint64    // 0 when empty
	LastSeq  uint64    // last Seq ever assigned
	Oldest   time.Time // event time of the first record held
	Newest   time.Time // event time of the last record held
	// OldestAppended is when the first record held was appended.
	OldestAppended time.Time
	Priority       int
	Dropped        uint64 // records dropped by caps, ever
	Corrupt        uint64 // records lost to corruption, ever
}

// ConsumerStats describe one consumer's cursor on one stream.
type ConsumerStats struct {
	Consumer string
	Stream   string
	Cursor   uint64
	// LagRecords is LastSeq - Cursor (gaps included).
	LagRecords uint64
	// LagSeconds is the age of the oldest record held after the cursor
	// (0 when the consumer is caught up).
	LagSeconds float64
	// Dropped counts records this consumer will never be handed: dropped
	// by a cap (or, for an orphan, deleted in any way) above its position
	// (see the package documentation, Accounting).
	Dropped uint64
	// Orphan: the consumer is not configured (Options.Consumers); its
	// cursor is kept but holds back no data.
	Orphan bool
}

// Stats returns a snapshot of streams, consumers and file usage.
func (s *Spool) Stats() Stats {
	st := Stats{Streams: map[string]StreamStats{}, CapBytes: s.capBytes(), Policy: s.opts.Overflow.String()}
	s.stMu.Lock()
	for name, ss := range s.streams {
		st.Streams[name] = StreamStats{Records: ss.Records, Bytes: ss.Bytes, LastSeq: ss.LastSeq,
			Priority: s.opts.priority(name), Dropped: ss.Dropped, Corrupt: ss.Corrupt}
		st.LogicalBytes += ss.Bytes
	}
	for id, c := range s.cursors {
		cs := ConsumerStats{Consumer: id.Consumer, Stream: id.Stream, Cursor: c.Seq, Dropped: c.Dropped,
			Orphan: s.opts.orphan(id)}
		if last := s.streams[id.Stream]; last != nil && last.LastSeq > c.Seq {
			cs.LagRecords = last.LastSeq - c.Seq
		}
		st.Consumers = append(st.Consumers, cs)
	}
	s.stMu.Unlock()
	sort.Slice(st.Consumers, func(i, j int) bool {
		a, b := st.Consumers[i], st.Consumers[j]
		return a.Consumer < b.Consumer || a.Consumer == b.Consumer && a.Stream < b.Stream
	})
	if fi, err := os.Stat(s.path); err == nil {
		st.FileBytes = fi.Size()
	}
	now := s.opts.Now()
	_ = s.view(func(tx *bolt.Tx) error {
		s.statsTx(tx, &st, now)
		return nil
	})
	return st
}

// statsTx fills in the parts that need the data: first and last records
// and the consumers' lag in time.
func (s *Spool) statsTx(tx *bolt.Tx, st *Stats, now time.Time) {
	for name, ss := range st.Streams {
		b := recordsBucket(tx, name)
		if b == nil {
			continue
		}
		c := b.Cursor()
		if k, v := c.First(); k != nil {
			ss.FirstSeq, _ = keySeq(k)
			if rv, err := decodeRecord(name, ss.FirstSeq, v); err == nil {
				ss.Oldest, ss.OldestAppended = time.Unix(0, rv.Time), time.Unix(0, rv.Appended)
			}
		}
		if k, v := c.Last(); k != nil {
			seq, _ := keySeq(k)
			if rv, err := decodeRecord(name, seq, v); err == nil {
				ss.Newest = time.Unix(0, rv.Time)
			}
		}
		st.Streams[name] = ss
	}
	for i := range st.Consumers {
		cs := &st.Consumers[i]
		b := recordsBucket(tx, cs.Stream)
		if b == nil || cs.LagRecords == 0 {
			continue
		}
		if k, v := b.Cursor().Seek(seqKey(cs.Cursor + 1)); k != nil {
			if app := recordAppended(v); app > 0 {
				cs.LagSeconds = max(0, now.Sub(time.Unix(0, app)).Seconds())
			}
		}
	}
}
