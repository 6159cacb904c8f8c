package intake

// seqWindow is how many sequence numbers below the highest one seen are
// remembered per generator for duplicate detection. It must exceed the
// messages a broker can redeliver after a crash (its in-flight window).
const seqWindow = 4096

// verdict is what the tracker says about one (generator, seq).
type verdict int

const (
	seqNew     verdict = iota // store it
	seqDup                    // a redelivery of a stored reading: drop it
	seqRestart                // the publisher restarted its sequence: store it
	seqLate                   // below the highest seen, not a known duplicate: store it
)

// seqState is one generator's recent sequence numbers: the highest, and a
// bitmap of which of the seqWindow numbers below it were stored.
type seqState struct {
	last uint64
	bits [seqWindow / 64]uint64
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

// observe classifies seq for dev and records it unless it is a duplicate.
// gap is the count of numbers skipped between the previous highest and seq.
func (t *tracker) observe(dev string, seq uint64, redelivered bool) (v verdict, gap uint64) {
	s := t.devs[dev]
	if s == nil {
		s = &seqState{}
		t.devs[dev] = s
		s.mark(seq)
		return seqNew, 0
	}
	switch {
	case seq > s.last:
		gap = seq - s.last - 1
		s.mark(seq)
		return seqNew, gap
	case redelivered && s.has(seq):
		return seqDup, 0
	case !redelivered && seq == 1:
		*s = seqState{}
		s.mark(seq)
		return seqRestart, 0
	}
	s.mark(seq)
	return seqLate, 0
}

// seed marks seq as stored for dev without judging it (start-up rebuild).
func (t *tracker) seed(dev string, seq uint64) {
	s := t.devs[dev]
	if s == nil {
		s = &seqState{}
		t.devs[dev] = s
	}
	s.mark(seq)
}
