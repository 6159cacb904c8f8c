package intake

import (
	"context"
	"errors"
	"time"

	"github.com/edgespool/edgespool/agent/backoff"
)

// commitLoop takes whatever queued while the previous Append ran (group
// commit), appends it and acknowledges each message after Append returned.
func (in *Intake) commitLoop(ctx context.Context) {
	defer close(in.done)
	batch := make([]item, 0, 256)
	var recs []Record
	for {
		var it item
		select {
		case it = <-in.queue:
		case <-in.stopCh:
			if len(in.queue) == 0 {
				return
			}
			continue // flush what is queued before returning
		}
		batch = append(batch[:0], it)
		batch = in.drain(batch)
		recs = in.filter(batch, recs[:0])
		if !in.appendRetry(ctx, recs) {
			return
		}
		in.ack(batch, len(recs))
		clear(batch)
	}
}

// drain adds queued items without blocking, up to CommitMaxRecords.
func (in *Intake) drain(batch []item) []item {
	for len(batch) < in.opts.CommitMaxRecords {
		select {
		case it := <-in.queue:
			batch = append(batch, it)
		default:
			return batch
		}
	}
	return batch
}

// filter collects the records to append, dropping redelivered duplicates
// and noting sequence gaps.
func (in *Intake) filter(batch []item, recs []Record) []Record {
	for i := range batch {
		it := &batch[i]
		if it.reason != "" || it.seqs == nil {
			recs = append(recs, it.recs...)
			continue
		}
		for j, r := range it.recs {
			if it.seqs[j].seq == 0 || in.track(r.Key, it.seqs[j], it.msg.Duplicate()) {
				recs = append(recs, r)
			}
		}
	}
	return recs
}

// track applies the tracker's verdict; false means "duplicate, skip".
func (in *Intake) track(dev string, a arrival, dup bool) bool {
	v, gap := in.tr.observe(dev, a, dup)
	switch v {
	case seqDup:
		in.m.duplicates.Inc()
		return false
	case seqResent:
		in.m.duplicates.Inc()
		in.m.resent.Inc()
		return false
	case seqLate:
		in.m.seqLate.Inc()
	case seqRestart:
		in.m.seqRestarts.Inc()
		in.log.Info("generator restarted its sequence", "generator", dev)
	}
	if gap > 0 {
		in.m.seqGaps.Add(float64(gap))
		in.gapWarn(dev, a.seq, gap)
	}
	return true
}

// appendRetry appends until it succeeds or the intake is shut down; nothing
// is acknowledged meanwhile, so the broker keeps the messages.
func (in *Intake) appendRetry(ctx context.Context, recs []Record) bool {
	b := backoff.New(backoff.Options{Min: 50 * time.Millisecond, Max: 5 * time.Second, Clock: in.opts.Clock})
	failures := 0
	for {
		start := in.opts.Clock.Now()
		err := in.app.Append(ctx, recs)
		if err == nil {
			in.m.commits.Inc()
			in.m.commitSeconds.Observe(in.opts.Clock.Now().Sub(start).Seconds())
			if failures > 0 {
				in.log.Info("spool append recovered", "failures", failures)
			}
			return true
		}
		in.m.commitErrors.Inc()
		if failures++; failures == 1 {
			in.log.Error("spool append failed; holding MQTT acknowledgements", "err", err)
		}
		if ctx.Err() != nil || errors.Is(err, context.Canceled) {
			return false
		}
		if b.Wait(ctx) != nil {
			return false
		}
	}
}

func (in *Intake) ack(batch []item, stored int) {
	in.m.commitSize.Observe(float64(len(batch)))
	in.m.readings.Add(float64(stored - in.rejectedIn(batch)))
	written := in.sendAcks(batch)
	for i := range batch {
		it := &batch[i]
		switch it.reason {
		case "":
			if it.unk {
				in.m.unknownFields.Inc()
			}
		case "ignored":
			in.m.ignored.Inc()
		default:
			in.m.rejected[it.reason].Inc()
			in.log.Debug("payload rejected", "reason", it.reason, "topic", it.msg.Topic(), "err", it.err)
			in.rejects.note(it.reason, in.opts.Clock.Now(), in.log)
		}
		if written {
			continue
		}
		if ra, ok := it.msg.(RejectAcker); ok && it.reason != "" && it.reason != "ignored" {
			ra.AckRejected(it.reason)
		} else {
			it.msg.Ack()
		}
	}
	in.release(len(batch))
}

// sendAcks writes the PUBACKs of batch in one write (pahoack); false means
// none was written and each message is to be acknowledged through its own
// Ack (paho's, or the embedded broker's for a local intake).
func (in *Intake) sendAcks(batch []item) bool {
	if in.opts.DisableDirectAck || in.local {
		return false
	}
	in.ackIDs = in.ackIDs[:0]
	for i := range batch {
		if m := batch[i].msg; m.Qos() == 1 {
			in.ackIDs = append(in.ackIDs, m.MessageID())
		}
	}
	return in.acks.Send(in.ackIDs)
}

func (in *Intake) rejectedIn(batch []item) int {
	n := 0
	for i := range batch {
		if r := batch[i].reason; r != "" && r != "ignored" {
			n++
		}
	}
	return n
}
