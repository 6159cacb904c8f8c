package intake

// seqWindow is how many sequence numbers below the highest one seen are
// remembered per generator for duplicate detection. It must exceed the
// messages a broker can redeliver after a crash (its in-flight window).
const seqWindow = 4096

// verdict is what the tracker says about one (generator, seq).
type verdict int

const (
	seqNew     verdict = iota // store it
	seqDup                    // a redelivery (DUP flag) of a stored reading: drop it
	seqResent                 // a stored reading sent again without the DUP flag: drop it
	seqRestart                // the publisher restarted its sequence: store it
	seqLate                   // below the highest seen, not a known duplicate: store it
)

// arrival is what the tracker needs of one reading.
type arrival struct {
	seq     uint64
	time    int64 // event time, Unix ns
	stamped bool  // time is the agent's receive time, not the publisher's
}

// seqState is one generator's recent sequence numbers: the highest, and a
// bitmap of which of the seqWindow numbers below it were stored; and the
// newest event time of its readings that carried their own time.
type seqState struct {
	last   uint64
	newest int64
	bits   [seqWindow / 64]uint64
}

// note records a stored reading.
func (s *seqState) note(a arrival) {
	s.mark(a.seq)
	if !a.stamped && a.time > s.newest {
		s.newest = a.time
	}
}

// resent reports whether a is a copy of a stored reading: its seq was
// stored and it is not newer than the newest reading stored. A publisher
// that restarted its sequence sends current readings, newer than any
// stored, so they are not taken for copies.
func (s *seqState) resent(a arrival) bool {
	return !a.stamped && a.time <= s.newest && s.has(a.seq)
}

func (s *seqState) has(seq uint64) bool {
	if seq > s.last || s.last-seq >= seqWindow {
		return false
	}
	d := s.last - seq
	return s.bits[d/64]&(1<<(d%64)) != 0
}

func (s *seqState) mark(seq uint64) {
	if seq > s.last {
		s.shift(seq - s.last)
		s.last = seq
	}
	if d := s.last - seq; d < seqWindow {
		s.bits[d/64] |= 1 << (d % 64)
	}
}

// shift moves the bitmap by n positions (bit d means seq last-d).
func (s *seqState) shift(n uint64) {
	if n >= seqWindow {
		s.bits = [seqWindow / 64]uint64{}
		return
	}
	words, off := int(n/64), n%64
	for i := len(s.bits) - 1; i >= 0; i-- {
		var v uint64
		if j := i - words; j >= 0 {
			v = s.bits[j] << off
			if off != 0 && j > 0 {
				v |= s.bits[j-1] >> (64 - off)
			}
		}
		s.bits[i] = v
	}
}

// tracker keeps seqState per generator. It is used by the commit goroutine
// only.
type tracker struct {
	devs map[string]*seqState
}

func newTracker() *tracker { return &tracker{devs: make(map[string]*seqState)} }

// observe classifies a reading of dev and records it unless it is a
// duplicate. redelivered is the broker's DUP flag. gap is the count of
// numbers skipped between the previous highest and a.seq.
//
// A reading whose seq was stored is a duplicate when the broker flags it
// as redelivered, and also without the flag when it is not newer than the
// newest reading stored: a publisher that resends unacknowledged messages
// after a reconnect has them forwarded by the broker as new messages.
func (t *tracker) observe(dev string, a arrival, redelivered bool) (v verdict, gap uint64) {
	s := t.devs[dev]
	if s == nil {
		s = &seqState{}
		t.devs[dev] = s
		s.note(a)
		return seqNew, 0
	}
	switch {
	case a.seq > s.last:
		gap = a.seq - s.last - 1
		s.note(a)
		return seqNew, gap
	case redelivered && s.has(a.seq):
		return seqDup, 0
	case s.resent(a):
		return seqResent, 0
	case !redelivered && a.seq == 1:
		*s = seqState{}
		s.note(a)
		return seqRestart, 0
	}
	s.note(a)
	return seqLate, 0
}

// seed records a stored reading of dev without judging it (start-up
// rebuild).
func (t *tracker) seed(dev string, a arrival) {
	s := t.devs[dev]
	if s == nil {
		s = &seqState{}
		t.devs[dev] = s
	}
	s.note(a)
}
