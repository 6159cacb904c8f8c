package uplink

import (
	"context"
	"errors"
	"fmt"

	"github.com/edgespool/edgespool/spool"
)

// lookupWindow is how many records after the durable cursor the check on
// start reads for the generators (Kafka keys) of this gateway.
const lookupWindow = 50_000

// lookup asks a Deduper sink which records after the durable cursor it
// already holds (sent by a run that crashed before committing the
// cursor), and marks them to be skipped. When nothing was stored with the
// cursor yet, it stores the sink's current positions before anything is
// sent. While the sink cannot be reached it waits, as a send would; a
// check that fails otherwise is logged and the records are sent again,
// counted as unchecked resends.
func (f *Forwarder) lookup(ctx context.Context, after uint64, stored []byte) {
	d, ok := f.sink.(Deduper)
	if !ok {
		return
	}
	pending, keys, last, err := f.pendingKeys(after)
	if err != nil {
		f.countUnchecked(pending, err)
		return
	}
	for failed := false; ; failed = true {
		err = f.check(ctx, d, after, stored, keys)
		if err == nil {
			f.checkUntil = last
			if stored == nil && after > 0 { // a cursor from before positions were stored
				f.countUnchecked(pending, fmt.Errorf("no positions stored with cursor %d", after))
			}
			if failed {
				f.link.success()
			}
			return
		}
		if ctx.Err() != nil {
			return
		}
		if e := (*Error)(nil); !errors.As(err, &e) || e.Class != ClassRetryable { // only a classified wait
			f.countUnchecked(pending, err)
			return
		}
		f.link.failure(err)
		if f.waitRetry(ctx, err) != nil {
			return
		}
	}
}

// check runs the sink's lookup once and keeps what it found; when nothing
// was stored yet, it commits the sink's current positions with the cursor.
func (f *Forwarder) check(ctx context.Context, d Deduper, after uint64, stored []byte, keys map[string]bool) error {
	found, start, err := d.Delivered(ctx, f.o.Stream, stored, keys)
	if err != nil {
		return err
	}
	if start != nil {
		if err := f.log.Commit(f.o.Consumer, f.o.Stream, after, start, nil); err != nil {
			return err
		}
	}
	f.found = found
	return nil
}

func (f *Forwarder) countUnchecked(n int, err error) {
	if n == 0 {
		return
	}
	f.unchecked.Add(float64(n))
	f.lg.Warn("cannot check which records after the cursor already reached the sink; sending them again",
		"consumer", f.o.Consumer, "records", n, "err", err)
}

// pendingKeys returns the count, keys (generators) and last seq of the
// records after the cursor, up to lookupWindow of them.
func (f *Forwarder) pendingKeys(after uint64) (int, map[string]bool, uint64, error) {
	keys, n := map[string]bool{}, 0
	for n < lookupWindow {
		b, err := f.log.ReadAfter(f.o.Stream, after, f.o.BatchRecords)
		if err != nil {
			return n, nil, after, fmt.Errorf("read: %w", err)
		}
		if len(b.Records) == 0 {
			break
		}
		for _, r := range b.Records {
			keys[r.Key] = true
		}
		n += len(b.Records)
		after = b.Records[len(b.Records)-1].Seq
	}
	return n, keys, after, nil
}

// dropDelivered returns recs without the records the sink already holds.
func (f *Forwarder) dropDelivered(recs []spool.Record) []spool.Record {
	if len(f.found) == 0 || len(recs) == 0 || recs[0].Seq > f.checkUntil {
		f.found = nil
		return recs
	}
	out := make([]spool.Record, 0, len(recs))
	for _, r := range recs {
		if id, err := idOf(Message(r)); err == nil && f.found[id] {
			delete(f.found, id)
			f.skipped.Inc()
			continue
		}
		out = append(out, r)
	}
	if n := len(recs) - len(out); n > 0 {
		f.lg.Info("records that reached the sink before the restart are not sent again",
			"consumer", f.o.Consumer, "records", n)
	}
	return out
}
