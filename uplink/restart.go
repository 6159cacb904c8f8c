package uplink

import (
	"context"
	"fmt"

	"github.com/edgespool/edgespool/spool"
)

// lookupBatches is how many batches after the durable cursor the check on
// start covers: what a run may have sent before its cursor was committed
// (the batch in flight and the ones whose acks were still committing).
const lookupBatches = 4

// lookup asks a Deduper sink which records after the durable cursor it
// already holds (sent by a run that crashed before committing the
// cursor), and marks them to be skipped. When nothing was stored with the
// cursor yet, it stores the sink's current positions before anything is
// sent. A failed check is logged and the records are sent again, counted
// as unchecked resends.
func (f *Forwarder) lookup(ctx context.Context, after uint64, stored []byte) {
	d, ok := f.sink.(Deduper)
	if !ok {
		return
	}
	bySeq, ids, err := f.pendingIDs(after)
	if err == nil {
		var found map[string]bool
		var start []byte
		found, start, err = d.Delivered(ctx, f.o.Stream, stored, ids)
		if err == nil && start != nil {
			err = f.log.Commit(f.o.Consumer, f.o.Stream, after, start, nil)
		}
		if err == nil {
			f.markDelivered(bySeq, found)
			if stored == nil && after > 0 { // a cursor from before positions were stored
				f.countUnchecked(len(bySeq), fmt.Errorf("no positions stored with cursor %d", after))
			}
			return
		}
	}
	if ctx.Err() == nil {
		f.countUnchecked(len(bySeq), err)
	}
}

func (f *Forwarder) countUnchecked(n int, err error) {
	if n == 0 {
		return
	}
	f.unchecked.Add(float64(n))
	f.lg.Warn(fmt.Sprintf("%s: cannot check which records after the cursor already reached %s, sending %d again: %v",
		f.o.Consumer, f.sink.Name(), n, err), "records", n)
}

// pendingIDs returns the identities of the records after the cursor that a
// crashed run may have sent, by seq and as a set.
func (f *Forwarder) pendingIDs(after uint64) (map[uint64]string, map[string]bool, error) {
	bySeq, ids := map[uint64]string{}, map[string]bool{}
	for len(bySeq) < lookupBatches*f.o.BatchRecords {
		b, err := f.log.ReadAfter(f.o.Stream, after, f.o.BatchRecords)
		if err != nil {
			return bySeq, nil, fmt.Errorf("read: %w", err)
		}
		if len(b.Records) == 0 {
			break
		}
		for _, r := range b.Records {
			if id, err := idOf(Message(r)); err == nil {
				bySeq[r.Seq], ids[id] = id, true
			}
		}
		after = b.Records[len(b.Records)-1].Seq
	}
	return bySeq, ids, nil
}

func (f *Forwarder) markDelivered(bySeq map[uint64]string, found map[string]bool) {
	if len(found) == 0 {
		return
	}
	f.skip = map[uint64]bool{}
	for seq, id := range bySeq {
		if found[id] {
			f.skip[seq] = true
		}
	}
	f.lg.Info(fmt.Sprintf("%s: %d records after the cursor already reached %s before the restart; not sending them again",
		f.o.Consumer, len(f.skip), f.sink.Name()), "records", len(f.skip))
}

// dropDelivered returns recs without the records the sink already holds.
func (f *Forwarder) dropDelivered(recs []spool.Record) []spool.Record {
	if len(f.skip) == 0 {
		return recs
	}
	out := make([]spool.Record, 0, len(recs))
	for _, r := range recs {
		if f.skip[r.Seq] {
			delete(f.skip, r.Seq)
			f.skipped.Inc()
			continue
		}
		out = append(out, r)
	}
	return out
}
