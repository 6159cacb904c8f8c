package uplink

import (
	"context"
	"errors"

	"github.com/edgespool/edgespool/agent/model"
	"github.com/edgespool/edgespool/spool"
)

// settle returns the messages of msgs that err says must be sent again.
// When the sink reported the outcome of every message (Error.Rejected),
// the rejected ones go to the dead-letter stream in one append and the
// delivered ones are counted; otherwise it narrows to Error.Failed.
func (f *Forwarder) settle(ctx context.Context, msgs []Message, err error) []Message {
	rejected, failed, ok := RejectedOf(err)
	if !ok {
		return f.narrow(msgs, err)
	}
	gone, rest, ok := pick(msgs, rejected, failed)
	if !ok {
		return msgs // inconsistent report: send everything again
	}
	var e *Error
	errors.As(err, &e) // RejectedOf found one
	f.deadLetter(ctx, gone, &Error{Class: ClassPermanent, Index: -1, Err: e.Err})
	f.confirmN(len(msgs)-len(gone)-len(rest), payloadBytes(msgs)-payloadBytes(gone)-payloadBytes(rest), false)
	return rest
}

// pick returns the messages at the positions a and b, which must be in
// range and disjoint.
func pick(msgs []Message, a, b []int) (ma, mb []Message, ok bool) {
	seen := make([]bool, len(msgs))
	take := func(pos []int) ([]Message, bool) {
		out := make([]Message, 0, len(pos))
		for _, i := range pos {
			if i < 0 || i >= len(msgs) || seen[i] {
				return nil, false
			}
			seen[i] = true
			out = append(out, msgs[i])
		}
		return out, true
	}
	if ma, ok = take(a); !ok {
		return nil, nil, false
	}
	mb, ok = take(b)
	return ma, mb, ok
}

// letterSummary accumulates the dead letters of one delivered batch, so
// that the forwarder logs one line per batch, not one per record.
type letterSummary struct {
	n, lost     int
	first, last uint64
	cause       error
	appendErr   error
}

// deadLetter moves rejected messages to the dead-letter stream in one
// append. If even that fails (spool full or closed), they are counted as
// dropped and logged with their range: never a silent loss.
func (f *Forwarder) deadLetter(ctx context.Context, msgs []Message, cause error) {
	if len(msgs) == 0 {
		return
	}
	recs := make([]spool.Record, len(msgs))
	at := f.clk.Now().UTC()
	for i, m := range msgs {
		d := model.DeadLetter{Source: f.sink.Name(), Reason: cause.Error(), Class: ClassOf(cause).String(),
			Stream: m.Stream, Seq: m.Seq, Key: m.Key, Time: m.Time, At: at, Payload: m.Value}
		recs[i] = deadLetterRecord(d)
		recs[i].Stream = f.o.DeadLetterStream
	}
	err := f.log.Append(context.WithoutCancel(ctx), recs)
	n := len(msgs)
	s := &f.dl
	if s.n+s.lost == 0 {
		s.first = msgs[0].Seq
	}
	s.last, s.cause = msgs[n-1].Seq, cause
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		f.dropped.Add(float64(n))
		f.st.Dropped += uint64(n)
		s.lost += n
		s.appendErr = err
		return
	}
	f.deadLetters.Add(float64(n))
	f.st.DeadLetters += uint64(n)
	s.n += n
}

// reportDeadLetters logs the dead letters of the batch just delivered, if
// any, in one line, and starts a new summary.
func (f *Forwarder) reportDeadLetters() {
	s := f.dl
	f.dl = letterSummary{}
	if s.n > 0 {
		f.lg.Warn("records rejected by the sink, moved to the dead-letter stream", "records", s.n,
			"first_seq", s.first, "last_seq", s.last, "moved_to", f.o.DeadLetterStream,
			"class", ClassOf(s.cause).String(), "err", s.cause)
	}
	if s.lost > 0 {
		f.lg.Error("rejected records lost: dead-letter append failed", "records", s.lost, "first_seq", s.first, "last_seq", s.last, "reason", s.cause, "err", s.appendErr)
	}
}
