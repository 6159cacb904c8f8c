package spool

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"sync"
)

// Retention: acknowledged records are deleted, the age cap and the byte cap
// drop the oldest records of the lowest-priority stream, and RejectNew turns
// the byte cap into ErrFull. All of it runs inside the commit transaction,
// so the byte accounting never drifts from the data.

const (
	dropCap = "cap"
	dropAge = "age"
)

// enforce runs retention after the ops of a commit were applied.
func (w *wtx) enforce(allStreams bool) error {
	if err := w.trimAcked(allStreams); err != nil {
		return err
	}
	if err := w.trimAge(); err != nil {
		return err
	}
	return w.trimCaps()
}

// trimAcked deletes records acknowledged by all consumers of their stream.
func (w *wtx) trimAcked(allStreams bool) error {
	cons := w.s.opts.Consumers
	if cons == nil {
		return nil
	}
	names := make([]string, 0, len(w.acked))
	for name := range w.acked {
		names = append(names, name)
	}
	if allStreams {
		names = w.streamNames()
	}
	for _, name := range names {
		list := cons[name]
		if len(list) == 0 || w.peekStream(name).Records == 0 {
			continue
		}
		upTo := w.deliveredUpTo(name)
		if last := w.peekStream(name).LastSeq; w.s.opts.KeepDelivered[name] > 0 {
			upTo = min(upTo, last-min(w.s.opts.KeepDelivered[name], last))
		}
		lc := w.newLossCount(name, true)
		n, _, err := w.trimFront(name, func(seq uint64, _ []byte) bool { return seq <= upTo }, lc.note)
		if err != nil {
			return err
		}
		w.deleted[name] += n
		if err := lc.commit(); err != nil {
			return err
		}
	}
	return nil
}

// deliveredUpTo returns the seq up to which every configured consumer of
// stream acknowledged (0 when it has none).
func (w *wtx) deliveredUpTo(stream string) uint64 {
	list := w.s.opts.Consumers[stream]
	if len(list) == 0 {
		return 0
	}
	upTo := w.cursorSeq(cursorID{list[0], stream})
	for _, c := range list[1:] {
		upTo = min(upTo, w.cursorSeq(cursorID{c, stream}))
	}
	return upTo
}

// releaseFor releases kept delivered records (releaseDelivered) for what
// add more bytes, addLow of them below the top priority, would take over
// the cap or the low-priority budget.
func (w *wtx) releaseFor(add, addLow int64) error {
	if len(w.s.opts.KeepDelivered) == 0 {
		return nil
	}
	total, low := w.usage()
	limit := w.s.capBytes()
	if over := max(total+add-limit, low+addLow-(limit-w.s.reserveFor(limit))); over > 0 {
		return w.releaseDelivered(over)
	}
	return nil
}

// releaseDelivered deletes kept delivered records (KeepDelivered), oldest
// first, until need bytes are freed or none is left.
func (w *wtx) releaseDelivered(need int64) error {
	var freed int64
	for _, name := range slices.Sorted(maps.Keys(w.s.opts.KeepDelivered)) {
		if freed >= need {
			break
		}
		upTo := w.deliveredUpTo(name)
		n, _, err := w.trimFront(name, func(seq uint64, v []byte) bool {
			if seq > upTo || freed >= need {
				return false
			}
			freed += logicalSize(len(v))
			return true
		}, nil)
		if err != nil {
			return err
		}
		w.deleted[name] += n
	}
	return nil
}

// trimAge drops records appended before now-MaxAge.
func (w *wtx) trimAge() error {
	if w.s.opts.MaxAge <= 0 {
		return nil
	}
	cutoff := w.now - int64(w.s.opts.MaxAge)
	for _, name := range w.streamNames() {
		if w.peekStream(name).Records == 0 {
			continue
		}
		more := func(_ uint64, v []byte) bool { return recordAppended(v) < cutoff }
		if err := w.drop(name, dropAge, more); err != nil {
			return err
		}
	}
	return nil
}

// drop trims the front of a stream for a cap and counts the loss, per
// stream and per consumer that will never be handed the records.
//
// Records every consumer acknowledged (kept by KeepDelivered) leave
// uncounted.
func (w *wtx) drop(name, reason string, more func(uint64, []byte) bool) error {
	lc := w.newLossCount(name, false)
	delivered := w.deliveredUpTo(name)
	var n uint64
	_, _, err := w.trimFront(name, more, func(seq uint64) {
		if seq > delivered {
			n++
		}
		lc.note(seq)
	})
	if err != nil || n == 0 {
		return err
	}
	w.stream(name).Dropped += n
	w.dropped[dropKey{name, reason}] += n
	return lc.commit()
}

// lossCount counts, per consumer of one stream, the records leaving the
// stream above its position; for consumers that read with ReadFor, records
// they were handed are set aside as pending (handoff.go).
type lossCount struct {
	w     *wtx
	ids   []cursorID
	seqs  []uint64
	lost  []uint64
	pend  [][]seqRange
	known []bool // the consumer reads with ReadFor
}

// newLossCount covers every cursor of the stream and the configured
// consumers without a cursor yet; orphansOnly limits it to orphan cursors
// (records acknowledged by every configured consumer).
func (w *wtx) newLossCount(stream string, orphansOnly bool) *lossCount {
	lc := &lossCount{w: w}
	w.eachCursor(stream, func(id cursorID, seq uint64) {
		if !orphansOnly || w.s.opts.orphan(id) {
			lc.ids, lc.seqs = append(lc.ids, id), append(lc.seqs, seq)
		}
	})
	if !orphansOnly {
		for _, c := range w.s.opts.Consumers[stream] { // configured, no cursor yet
			if id := (cursorID{c, stream}); !slices.Contains(lc.ids, id) {
				lc.ids, lc.seqs = append(lc.ids, id), append(lc.seqs, 0)
			}
		}
		w.lockHandoffs()
	}
	lc.lost = make([]uint64, len(lc.ids))
	lc.pend = make([][]seqRange, len(lc.ids))
	lc.known = make([]bool, len(lc.ids))
	return lc
}

func (lc *lossCount) note(seq uint64) {
	for i, id := range lc.ids {
		if seq <= lc.seqs[i] {
			continue
		}
		var pending bool
		if lc.w.hoLocked {
			lc.known[i], pending = lc.w.s.ho.classify(id, seq)
		}
		if !pending {
			lc.lost[i]++
			continue
		}
		if p := lc.pend[i]; len(p) > 0 && p[len(p)-1].hi+1 == seq {
			p[len(p)-1].hi = seq
		} else {
			lc.pend[i] = append(p, seqRange{seq, seq})
		}
	}
}

// commit adds the counts to the cursors and keeps the pending records for
// the handoff state.
func (lc *lossCount) commit() error {
	for i, id := range lc.ids {
		if len(lc.pend[i]) > 0 {
			lc.w.hoPending[id] = append(lc.w.hoPending[id], lc.pend[i]...)
		}
		if err := lc.w.addDropped(id, lc.lost[i]); err != nil {
			return err
		}
	}
	return nil
}

// addDropped adds n to a cursor's Dropped and to the per-consumer metric.
func (w *wtx) addDropped(id cursorID, n uint64) error {
	if n == 0 {
		return nil
	}
	cur := w.cursor(id)
	cur.Dropped += n
	w.consDropped[id] += n
	return w.putCursor(id, cur)
}

// usage returns the logical bytes of all streams and of the streams below
// the top priority.
func (w *wtx) usage() (total, low int64) {
	top := w.s.opts.topPriority()
	for _, name := range w.streamNames() {
		b := w.peekStream(name).Bytes
		total += b
		if w.s.opts.priority(name) < top {
			low += b
		}
	}
	return total, low
}

// trimCaps drops the oldest records of the lowest-priority streams until
// the low-priority budget and the whole cap hold (DropOldest only).
func (w *wtx) trimCaps() error {
	if w.s.opts.Overflow == RejectNew {
		return nil
	}
	limit := w.s.capBytes()
	if err := w.releaseFor(0, 0); err != nil {
		return err
	}
	total, low := w.usage()
	if over := low - (limit - w.s.reserveFor(limit)); over > 0 {
		if err := w.dropLowest(over, true); err != nil {
			return err
		}
		total, _ = w.usage()
	}
	if over := total - limit; over > 0 {
		return w.dropLowest(over, false)
	}
	return nil
}

// dropLowest frees at least need bytes from the lowest-priority streams.
func (w *wtx) dropLowest(need int64, lowOnly bool) error {
	o := &w.s.opts
	top := o.topPriority()
	names := w.streamNames()
	sort.Slice(names, func(i, j int) bool {
		pi, pj := o.priority(names[i]), o.priority(names[j])
		return pi < pj || pi == pj && names[i] < names[j]
	})
	for _, name := range names {
		if need <= 0 {
			break
		}
		if lowOnly && o.priority(name) >= top {
			continue
		}
		freed := int64(0)
		err := w.drop(name, dropCap, func(_ uint64, v []byte) bool {
			if freed >= need {
				return false
			}
			freed += logicalSize(len(v))
			return true
		})
		if err != nil {
			return err
		}
		need -= freed
	}
	return nil
}

// admit enforces RejectNew: the records of one op are all admitted or the
// op fails with ErrFull.
func (w *wtx) admit(recs []Record) error {
	o := &w.s.opts
	if o.Overflow != RejectNew {
		return nil
	}
	top := o.topPriority()
	var add, addLow int64
	for i := range recs {
		n := logicalSize(recordLen(&recs[i]))
		add += n
		if o.priority(recs[i].Stream) < top {
			addLow += n
		}
	}
	if err := w.releaseFor(add, addLow); err != nil {
		return err
	}
	total, low := w.usage()
	limit := w.s.capBytes()
	if total+add > limit || (addLow > 0 && low+addLow > limit-w.s.reserveFor(limit)) {
		for i := range recs {
			w.rejected[recs[i].Stream]++
		}
		return fmt.Errorf("%d records of %d bytes: %w", len(recs), add, ErrFull)
	}
	return nil
}

// capBytes is the effective byte cap: MaxBytes, lowered while the file sits
// at its size backstop.
func (s *Spool) capBytes() int64 {
	if c := s.backstopCap.Load(); c > 0 {
		return min(c, s.opts.MaxBytes)
	}
	return s.opts.MaxBytes
}

// reserveFor returns the reserve of the top-priority streams under an
// effective cap: ReserveBytes, scaled down with a lowered cap.
func (s *Spool) reserveFor(limit int64) int64 {
	if limit >= s.opts.MaxBytes {
		return s.opts.ReserveBytes
	}
	return int64(float64(s.opts.ReserveBytes) * float64(limit) / float64(s.opts.MaxBytes))
}

// retentionLog logs the spool's fill state once per change.
type retentionLog struct {
	mu        sync.Mutex
	high      bool
	dropping  bool
	rejecting bool
}

const (
	highWater = 0.80
	lowWater  = 0.70
)

// observe is called after each commit with the usage and what the commit
// dropped or rejected.
func (r *retentionLog) observe(log *slog.Logger, total, limit int64, dropped map[dropKey]uint64, rejected map[string]uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	frac := float64(total) / float64(limit)
	switch {
	case !r.high && frac >= highWater:
		r.high = true
		log.Warn("spool over 80% of cap", "bytes", total, "cap", limit)
	case r.high && frac < lowWater:
		r.high = false
		log.Info("spool back under 70% of cap", "bytes", total, "cap", limit)
	}
	r.logDrops(log, dropped)
	r.logRejects(log, rejected)
}

func (r *retentionLog) logDrops(log *slog.Logger, dropped map[dropKey]uint64) {
	if len(dropped) > 0 && !r.dropping {
		r.dropping = true
		for k, n := range dropped {
			log.Warn("dropping oldest "+k.stream+" records", "reason", k.reason, "records", n)
		}
	} else if len(dropped) == 0 && r.dropping && !r.high {
		r.dropping = false
		log.Info("recovered: spool no longer dropping records")
	}
}

func (r *retentionLog) logRejects(log *slog.Logger, rejected map[string]uint64) {
	if len(rejected) > 0 && !r.rejecting {
		r.rejecting = true
		log.Warn("spool full: rejecting new records", "policy", RejectNew.String())
	} else if len(rejected) == 0 && r.rejecting && !r.high {
		r.rejecting = false
		log.Info("recovered: spool accepting records again")
	}
}
