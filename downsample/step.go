package downsample

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/edgespool/edgespool/agent/backoff"
	"github.com/edgespool/edgespool/agent/model"
	"github.com/edgespool/edgespool/spool"
)

// recover rebuilds the in-memory state from the spool: the durable cursor
// and the frontiers in its meta. Replaying from the cursor then reopens
// exactly the windows that were open when the state was committed.
func (e *Engine) recover() error {
	seq, meta, err := e.log.Cursor(e.o.Consumer, model.StreamRaw)
	if err != nil {
		return fmt.Errorf("read cursor: %w", err)
	}
	w, _ := NewWindower(e.o.Options) // options checked by NewEngine
	through, err := restoreMeta(meta, w)
	if err != nil {
		e.m.stateResets.Inc()
		e.o.Logger.Error("downsample: cursor state unreadable, starting with empty state; windows after the cursor may be emitted twice",
			"cursor", seq, "err", err)
		w, _ = NewWindower(e.o.Options)
	}
	e.w, e.pos, e.acked = w, seq, seq
	e.counted = max(e.counted, through)
	e.m.cursor.Set(float64(seq))
	e.o.Logger.Info("downsample: resuming", "cursor", seq, "processed_through", through)
	return nil
}

// step reads one batch of raw records after the current position, offers
// them to the windows, applies the clock once the end of the stream is
// reached, and commits. It reports idle when the raw stream had nothing new.
func (e *Engine) step() (idle bool, err error) {
	if e.w == nil { // a commit failed: memory is ahead of the spool
		if err := e.recover(); err != nil {
			return false, err
		}
	}
	b, err := e.log.ReadFor(e.o.Consumer, model.StreamRaw, e.pos, e.o.BatchSize)
	if err != nil {
		return false, fmt.Errorf("read raw: %w", err)
	}
	now := e.o.Clock.Now()
	e.process(b, now)
	// A batch that is not full reached the end of the stream: everything
	// that has arrived is in the windows, so the clock may close them.
	// (While a backlog is read, full batches, it must not.)
	if len(b.Records) < e.o.BatchSize && e.clockMayClose(now) {
		e.w.Tick(now)
	}
	idle = len(b.Records) == 0
	if err := e.commit(now); err != nil {
		e.w = nil
		return false, err
	}
	return idle, nil
}

// process offers a batch to the windows and counts what it did; readings
// already counted before a restart are not counted again.
func (e *Engine) process(b spool.Batch, now time.Time) {
	var n, late, bad, corrupt int
	var firstErr error
	for i := range b.Records {
		rec := &b.Records[i]
		fresh := rec.Seq > e.counted
		r, err := model.DecodeReading(rec.Value)
		if err != nil {
			if fresh {
				corrupt++
				firstErr = cmpOr(firstErr, fmt.Errorf("raw record %d: %w", rec.Seq, err))
			}
			continue
		}
		v := e.w.Add(r, rec.Seq, now)
		if fresh {
			n++
			late += b2i(v == Late)
			bad += b2i(v == BadTime)
		}
	}
	e.count(b, n, late, bad, corrupt, firstErr)
	e.pos = b.Last(e.pos)
	e.counted = max(e.counted, e.pos)
}

func (e *Engine) count(b spool.Batch, n, late, bad, corrupt int, firstErr error) {
	e.m.readings.Add(float64(n))
	e.m.late.Add(float64(late))
	e.m.badTime.Add(float64(bad))
	if corrupt > 0 {
		e.m.corrupt.Add(float64(corrupt))
		e.o.Logger.Warn("downsample: skipped corrupt raw records", "count", corrupt, "first", firstErr)
	}
	if b.Skipped > 0 && b.Last(e.pos) > e.counted {
		e.m.skipped.Add(float64(b.Skipped))
		e.o.Logger.Warn("downsample: raw records dropped by the spool before downsampling",
			"after", e.pos, "count", b.Skipped)
	}
}

// commit writes the finished windows, the cursor and the state in one
// spool transaction, then publishes alarm changes. Finished windows are
// committed at once; a cursor that merely moved waits for CommitInterval.
func (e *Engine) commit(now time.Time) error {
	e.pts = e.w.Take(e.pts[:0])
	ack := e.pos
	if s, ok := e.w.Oldest(); ok {
		ack = s - 1
	}
	ack = max(ack, e.acked)
	if len(e.pts) == 0 && (ack == e.acked || now.Sub(e.lastCommit) < e.o.CommitInterval) {
		e.gauges()
		return nil
	}
	e.recs = e.recs[:0]
	for _, p := range e.pts {
		e.recs = append(e.recs, spool.Record{Stream: model.StreamDownsampled, Key: p.GeneratorID, Time: p.Time,
			Value: model.AppendPoint(nil, p)})
	}
	e.meta = appendMeta(e.meta[:0], e.pos, e.w)
	if err := e.log.Commit(e.o.Consumer, model.StreamRaw, ack, e.meta, e.recs); err != nil {
		return fmt.Errorf("commit %d points, cursor %d: %w", len(e.recs), ack, err)
	}
	e.acked, e.lastCommit = ack, now
	e.m.commits.Inc()
	e.m.windows.Add(float64(len(e.pts)))
	e.gauges()
	e.alarms()
	return nil
}

func (e *Engine) gauges() {
	open, gens := e.w.OpenWindows()
	e.m.openWindows.Set(float64(open))
	e.m.generators.Set(float64(gens))
	e.m.position.Set(float64(e.pos))
	e.m.cursor.Set(float64(e.acked))
	e.statusMu.Lock()
	e.status.Position, e.status.Cursor = e.pos, e.acked
	e.status.OpenWindows, e.status.Generators = open, gens
	e.status.Windows += uint64(len(e.pts))
	e.statusMu.Unlock()
}

// alarms publishes the committed points whose label differs from the last
// one published for their generator in this process.
func (e *Engine) alarms() {
	for _, p := range e.pts {
		prev, seen := e.labels[p.GeneratorID]
		if seen && prev == p.Alarm {
			continue
		}
		e.labels[p.GeneratorID] = p.Alarm
		e.m.alarms.WithLabelValues(p.Alarm).Inc()
		if e.pub != nil {
			e.pub.enqueue(Alarm{GeneratorID: p.GeneratorID, Label: p.Alarm, Previous: prev, Fuel: p.Fuel,
				Time: p.EventTime(), Window: time.Unix(0, p.Window).UTC(), Region: p.Region})
		}
	}
}

// retrier runs a spool operation until it succeeds, backing off between
// failures; it logs the first failure and the recovery once each.
type retrier struct {
	e   *Engine
	bo  *backoff.Backoff
	err error // why do gave up, nil for a cancelled context
}

func (r *retrier) do(ctx context.Context, op string, fn func() error) bool {
	for {
		err := fn()
		if err == nil {
			r.recovered(op)
			return true
		}
		r.e.m.errors.WithLabelValues(op).Inc()
		if errors.Is(err, spool.ErrClosed) {
			r.err = fmt.Errorf("downsample: %w", err)
			return false
		}
		if r.bo.Failures() == 0 {
			r.e.o.Logger.Error("downsample: spool operation failed, retrying", "op", op, "err", err)
		}
		if r.bo.Wait(ctx) != nil {
			return false
		}
	}
}

func (r *retrier) recovered(op string) {
	if n := r.bo.Failures(); n > 0 {
		r.e.o.Logger.Info("downsample: spool operation recovered", "op", op, "errors", n)
	}
	r.bo.Reset()
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// clockMayClose reports whether the wall clock may close windows now: not
// while the input is down, nor for IdleGrace after it came back (see
// EngineOptions.InputLive).
func (e *Engine) clockMayClose(now time.Time) bool {
	if e.o.InputLive == nil {
		return true
	}
	if !e.o.InputLive() {
		e.inputDown = true
		return false
	}
	if e.inputDown {
		e.inputDown, e.inputBack = false, now
	}
	return e.inputBack.IsZero() || now.Sub(e.inputBack) > e.o.IdleGrace
}
