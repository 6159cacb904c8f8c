package spool

import (
	"fmt"
	"sync"
)

// Handoff accounting: which records a consumer has been handed, so that a
// cap drop counts, per consumer, only the records it will never deliver.
//
// A consumer that reads ahead of its durable cursor (a forwarder sends a
// batch and acknowledges it afterwards) holds records the cursor does not
// cover yet. A drop of such a record loses nothing: the consumer has it and
// acknowledges it once delivered. ReadFor tells the spool who reads; for a
// consumer that reads with it, a dropped record above its cursor is
//
//   - lost at once when the consumer was never handed it;
//   - pending when it was handed (or a read in progress may hand it):
//     delivered, and forgotten, when the consumer acknowledges past it;
//     lost when the consumer reads again from below it without getting it
//     (a failed send re-read) or when the spool closes first.
//
// Lost records are added to the cursor's Dropped (and the per-consumer
// metric) by the next commit. Consumers that do not use ReadFor are counted
// against their durable cursor alone. The state is in memory: after a crash
// a pending record is counted by nobody but the consumer, which learns of
// the gap from Batch.Skipped when it re-reads from its cursor.

// handoff is the in-memory read state of one consumer on one stream.
type handoff struct {
	handed   uint64     // the consumer holds or is done with every Seq <= handed
	reading  int        // reads in progress
	readFrom uint64     // lowest `after` of the reads in progress
	pending  []seqRange // dropped while handed, not yet acknowledged
	lost     uint64     // lost, not yet added to the cursor
}

// seqRange is an inclusive range of dropped sequence numbers.
type seqRange struct{ lo, hi uint64 }

func (r seqRange) n() uint64 { return r.hi - r.lo + 1 }

// handoffs holds the handoff state of every consumer that read with
// ReadFor. A commit that drops records holds mu from its decision until
// after the commit, so that a read cannot start in between and take
// records the decision counted as never handed.
type handoffs struct {
	mu sync.Mutex
	m  map[cursorID]*handoff
}

// ReadFor returns up to max records of stream with Seq > after, like
// ReadAfter, for consumer: after is the consumer's position (its durable
// cursor or further, when it holds records it has not acknowledged yet).
// The spool then knows what the consumer holds, and counts in its Dropped
// only records it will never deliver (see handoff.go).
func (s *Spool) ReadFor(consumer, stream string, after uint64, max int) (Batch, error) {
	if err := checkCursorArgs(consumer, stream); err != nil {
		return Batch{}, err
	}
	id := cursorID{consumer, stream}
	s.ho.beginRead(id, after)
	b, err := s.ReadAfter(stream, after, max)
	if s.ho.endRead(id, after, b, err) {
		s.q.wake() // the loop counts the loss
	}
	if err != nil {
		return b, fmt.Errorf("spool read %s/%s: %w", consumer, stream, err)
	}
	return b, nil
}

func (h *handoffs) get(id cursorID) *handoff {
	if h.m == nil {
		h.m = map[cursorID]*handoff{}
	}
	ho := h.m[id]
	if ho == nil {
		ho = &handoff{}
		h.m[id] = ho
	}
	return ho
}

func (h *handoffs) beginRead(id cursorID, after uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ho := h.get(id)
	ho.handed = max(ho.handed, after)
	if ho.reading == 0 || after < ho.readFrom {
		ho.readFrom = after
	}
	ho.reading++
}

// endRead records what a read handed and resolves pending records the
// consumer read past without getting them. It reports new losses.
func (h *handoffs) endRead(id cursorID, after uint64, b Batch, err error) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	ho := h.get(id)
	ho.reading--
	if err != nil {
		return false
	}
	var first, last uint64 = 1, 0 // empty: nothing handed
	if n := len(b.Records); n > 0 {
		first, last = b.Records[0].Seq, b.Records[n-1].Seq
	}
	before := ho.lost
	kept := ho.pending[:0]
	for _, r := range ho.pending {
		kept = ho.splitLost(kept, r, after, first, last)
	}
	ho.pending = kept
	ho.handed = max(ho.handed, b.Last(after))
	return ho.lost > before
}

// splitLost appends to kept the parts of r the consumer still holds (at or
// below after, or handed by this read, [first, last]) and counts the rest
// lost.
func (ho *handoff) splitLost(kept []seqRange, r seqRange, after, first, last uint64) []seqRange {
	var held uint64
	for _, part := range []seqRange{{r.lo, min(r.hi, after)}, {max(r.lo, first), min(r.hi, last)}} {
		if part.lo <= part.hi {
			kept = append(kept, part)
			held += part.n()
		}
	}
	ho.lost += r.n() - held
	return kept
}

// classify says whether a record dropped above the cursor of id was handed
// (pending) or not (lost now). Called with mu held.
func (h *handoffs) classify(id cursorID, seq uint64) (known, pending bool) {
	ho := h.m[id]
	if ho == nil {
		return false, false
	}
	return true, seq <= ho.handed || ho.reading > 0 && seq > ho.readFrom
}

// addPending records dropped, handed records. Called with mu held.
func (h *handoffs) addPending(id cursorID, rs []seqRange) {
	ho := h.get(id)
	ho.pending = append(ho.pending, rs...)
}

// delivered forgets pending records at or below a consumer's new cursor.
// Called with mu held.
func (h *handoffs) delivered(id cursorID, seq uint64) {
	ho := h.m[id]
	if ho == nil {
		return
	}
	kept := ho.pending[:0]
	for _, r := range ho.pending {
		if r.hi > seq {
			kept = append(kept, seqRange{max(r.lo, seq+1), r.hi})
		}
	}
	ho.pending = kept
}

// takeLost returns the losses to add to the cursors; with final (the spool
// closes) pending records count as lost too. The caller subtracts them
// with settle once committed. Called with mu held.
func (h *handoffs) takeLost(final bool) map[cursorID]uint64 {
	var out map[cursorID]uint64
	for id, ho := range h.m {
		n := ho.lost
		if final {
			for _, r := range ho.pending {
				n += r.n()
			}
		}
		if n > 0 {
			if out == nil {
				out = map[cursorID]uint64{}
			}
			out[id] = n
		}
	}
	return out
}

// settle subtracts the losses a commit added to the cursors.
func (h *handoffs) settle(counted map[cursorID]uint64, final bool) {
	for id, n := range counted {
		ho := h.m[id]
		if ho == nil {
			continue
		}
		if final {
			for _, r := range ho.pending {
				n -= r.n()
			}
			ho.pending = nil
		}
		ho.lost -= n
	}
}

// hasLost reports losses waiting for a commit.
func (h *handoffs) hasLost() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ho := range h.m {
		if ho.lost > 0 {
			return true
		}
	}
	return false
}

// hasPending reports handed records dropped and not yet acknowledged.
func (h *handoffs) hasPending() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ho := range h.m {
		if len(ho.pending) > 0 || ho.lost > 0 {
			return true
		}
	}
	return false
}

// forget drops the state of removed cursors. Called with mu held.
func (h *handoffs) forget(id cursorID) { delete(h.m, id) }
