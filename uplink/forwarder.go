package uplink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/edgespool/edgespool/agent/clock"
	"github.com/edgespool/edgespool/agent/model"

	"github.com/edgespool/edgespool/spool"
	"github.com/prometheus/client_golang/prometheus"
)

// Log is what a forwarder needs from the spool (*spool.Spool satisfies it).
type Log interface {
	// Cursor returns the consumer's durable cursor on stream.
	Cursor(consumer, stream string) (seq uint64, meta []byte, err error)
	// ReadAfter returns records of stream with Seq > after, in order.
	ReadAfter(stream string, after uint64, max int) (spool.Batch, error)
	// ReadFor is ReadAfter for a consumer that will deliver what it is
	// handed: the spool then counts a record dropped while in flight only
	// if the consumer never delivers it.
	ReadFor(consumer, stream string, after uint64, max int) (spool.Batch, error)
	// Ack durably advances the consumer's cursor to seq.
	Ack(consumer, stream string, seq uint64) error
	// Commit durably sets the consumer's cursor to seq (not below it) with
	// meta stored beside it (derived: records appended in the same
	// transaction, none here).
	Commit(consumer, stream string, seq uint64, meta []byte, derived []spool.Record) error
	// Notify is closed at the next commit that adds to stream.
	Notify(stream string) <-chan struct{}
	// Append appends records (dead letters).
	Append(ctx context.Context, recs []spool.Record) error
}

// ForwarderOptions configure a Forwarder. Zero values mean the defaults.
type ForwarderOptions struct {
	Stream string // spool stream to forward (required)
	// Consumer is the durable cursor name (default "<sink>/raw" or
	// "<sink>/down" for model.StreamDownsampled, else "<sink>/<stream>").
	Consumer string
	// Link is shared by every forwarder of one sink (default: a link of
	// its own, named after the sink).
	Link *Link
	// Priority makes the link's other forwarders wait while this one has a
	// backlog (default: true for model.StreamDownsampled).
	Priority *bool
	// BatchRecords and BatchBytes bound one batch (records, spooled
	// payload bytes; a single larger record still goes alone). Defaults:
	// the sink's BatchLimits, else 5000 and DefaultBatchBytes. The bytes
	// bound the memory a batch takes while it is sent: encoded as JSON or
	// line protocol, with the sink's structures, a record takes several
	// times its spooled size.
	BatchRecords, BatchBytes int
	// SendTimeout bounds one Send (default 60s); a send that times out is
	// retried like a network error.
	SendTimeout time.Duration
	// StopGrace is how long a Send in flight when Run's context ends may
	// still take to complete (default 2s): a batch confirmed within it is
	// acknowledged, so a clean shutdown does not resend it.
	StopGrace time.Duration
	Backoff   BackoffOptions
	// Head returns the last sequence number of a stream, for the lag in
	// Status and metrics (optional: without it LagRecords stays 0). It is
	// called by Status, by each metrics scrape and after each failed send,
	// not on the send path.
	Head func(stream string) uint64
	// DeadLetterStream receives rejected records (default
	// model.StreamDeadLetter).
	DeadLetterStream string
	Logger           *slog.Logger
	Metrics          *Metrics
	Clock            clock.Clock
}

// ForwarderStatus is a snapshot of a forwarder for /status.
type ForwarderStatus struct {
	Sink     string `json:"sink"`
	Stream   string `json:"stream"`
	Consumer string `json:"consumer"`
	Cursor   uint64 `json:"cursor"`
	// LagRecords are spooled records not yet confirmed (needs Head);
	// LagSeconds is the event-time age of the oldest of them. Both are
	// computed from the spool when the status is taken, so they grow
	// while the link is down.
	LagRecords  uint64     `json:"lag_records"`
	LagSeconds  float64    `json:"lag_seconds"`
	Sent        uint64     `json:"sent"`
	SentBytes   uint64     `json:"sent_bytes"`
	DeadLetters uint64     `json:"dead_letters"`
	Dropped     uint64     `json:"dropped"`
	LastError   string     `json:"last_error,omitempty"`
	LastErrorAt time.Time  `json:"last_error_at,omitzero"`
	Link        LinkStatus `json:"link"`
}

// Forwarder moves one spool stream to one sink on its own durable cursor.
type Forwarder struct {
	log  Log
	sink Sink
	o    ForwarderOptions
	link *Link
	prio bool
	clk  clock.Clock
	lg   *slog.Logger
	bo   *retryBackoff
	acks *acker

	sent, sentBytes, batches, deadLetters, dropped prometheus.Counter
	skipped, unchecked                             prometheus.Counter
	lagRecords, lagSeconds                         prometheus.Gauge
	sendSeconds, delay                             prometheus.Observer
	errs                                           *prometheus.CounterVec

	dl letterSummary // dead letters of the batch being delivered, logged once
	// msgs is the message slice of the batch being delivered, reused (sinks
	// do not keep it past Send).
	msgs []Message
	// recBytes is the mean spooled size of the records of the last batch,
	// to read about BatchBytes worth of records.
	recBytes int
	// stored is what the sink's Deduper stored with the cursor read on
	// start; checked turns true once the sink was asked, before the first
	// send, which records after the cursor it already holds. found are
	// their identities, not to be sent again; checked up to seq checkUntil.
	stored     []byte
	checked    bool
	found      map[string]bool
	checkUntil uint64

	mu          sync.Mutex
	st          ForwarderStatus
	cursorKnown bool // st.Cursor was read from the log (Run started)
}

// NewForwarder returns a forwarder of o.Stream from log to sink.
func NewForwarder(log Log, sink Sink, o ForwarderOptions) (*Forwarder, error) {
	if log == nil || sink == nil || o.Stream == "" {
		return nil, errors.New("uplink: forwarder needs a log, a sink and a stream")
	}
	o = forwarderDefaults(sink, o)
	f := &Forwarder{log: log, sink: sink, o: o, link: o.Link, prio: *o.Priority,
		clk: clock.Or(o.Clock), bo: newBackoff(o.Backoff, o.Clock, nil)}
	f.lg = o.Logger.With("sink", sink.Name(), "stream", o.Stream)
	if p, ok := sink.(Prober); ok {
		f.link.useProber(p)
	}
	f.acks = newAcker(log, o.Consumer, o.Stream, f.lg)
	m, l := o.Metrics, prometheus.Labels{"sink": sink.Name(), "stream": o.Stream}
	f.sent, f.sentBytes, f.batches = m.sentRecords.With(l), m.sentBytes.With(l), m.batches.With(l)
	f.deadLetters, f.dropped = m.deadLetters.With(l), m.dropped.With(l)
	f.skipped, f.unchecked = m.skipped.With(l), m.unchecked.With(l)
	f.lagRecords, f.lagSeconds = m.lagRecords.With(l), m.lagSeconds.With(l)
	f.sendSeconds, f.delay = m.sendSeconds.With(l), m.delay.With(l)
	f.errs = m.errorsFor(l)
	f.st = ForwarderStatus{Sink: sink.Name(), Stream: o.Stream, Consumer: o.Consumer}
	return f, nil
}

func forwarderDefaults(sink Sink, o ForwarderOptions) ForwarderOptions {
	if o.Consumer == "" {
		short := o.Stream
		if short == model.StreamDownsampled {
			short = "down"
		}
		o.Consumer = sink.Name() + "/" + short
	}
	if o.Priority == nil {
		p := o.Stream == model.StreamDownsampled
		o.Priority = &p
	}
	if lim, ok := sink.(Limiter); ok {
		setDefault(&o.BatchRecords, lim.BatchLimits().Records)
		setDefault(&o.BatchBytes, lim.BatchLimits().Bytes)
	}
	setDefault(&o.BatchRecords, 5000)
	setDefault(&o.BatchBytes, DefaultBatchBytes)
	setDefault(&o.SendTimeout, 60*time.Second)
	setDefault(&o.StopGrace, 2*time.Second)
	setDefault(&o.DeadLetterStream, model.StreamDeadLetter)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	if o.Link == nil {
		o.Link = NewLink(sink.Name(), LinkOptions{Logger: o.Logger, Metrics: o.Metrics, Clock: o.Clock})
	}
	return o
}

// Consumer returns the forwarder's cursor name.
func (f *Forwarder) Consumer() string { return f.o.Consumer }

// Status returns a snapshot of the forwarder and its link. The lag is
// computed now from the spool head and the cursor, so it shows the backlog
// growing while the link is down.
func (f *Forwarder) Status() ForwarderStatus {
	f.refreshLag()
	f.mu.Lock()
	st := f.st
	f.mu.Unlock()
	st.Link = f.link.Status()
	return st
}

// Run forwards until ctx ends (then it returns nil) or the log fails for
// good (spool closed). It never returns with a batch half-acknowledged:
// the cursor only moves past records the sink confirmed or that went to
// the dead-letter stream, and every ack has been committed when it returns.
func (f *Forwarder) Run(ctx context.Context) error {
	if f.prio {
		defer f.link.leavePriority(f)
	}
	after, meta, err := f.log.Cursor(f.o.Consumer, f.o.Stream)
	if err != nil {
		return fmt.Errorf("uplink %s: cursor: %w", f.o.Consumer, err)
	}
	defer f.acks.flush()
	f.setCursor(after)
	f.stored = meta
	f.o.Metrics.track(f)
	defer f.o.Metrics.untrack(f)
	f.lg.Info("forwarder started", "consumer", f.o.Consumer, "cursor", after)
	for {
		next, err := f.step(ctx, after)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		after = next
	}
}

// step forwards one batch after the cursor (or waits for one) and returns
// the new cursor.
func (f *Forwarder) step(ctx context.Context, after uint64) (uint64, error) {
	if !f.prio {
		if err := f.link.waitPriority(ctx); err != nil {
			return after, nil
		}
	}
	notify := f.log.Notify(f.o.Stream) // before reading: no commit slips between
	b, err := f.read(ctx, after)
	if err != nil || ctx.Err() != nil {
		return after, err
	}
	f.noteSkipped(after, b)
	if len(b.Records) == 0 {
		f.caughtUp()
		if b.Skipped > 0 {
			return f.ack(after + b.Skipped), nil
		}
		select {
		case <-notify:
		case <-ctx.Done():
		}
		return after, nil
	}
	if b.Skipped > 0 { // move past the gap now, so it is reported once
		after = f.ack(b.Records[0].Seq - 1)
	}
	if !f.checked {
		if f.lookup(ctx, after, f.stored); ctx.Err() != nil {
			return after, nil
		}
		f.checked = true
	}
	f.setBacklog(false)
	if err := f.deliver(ctx, f.dropDelivered(b.Records)); err != nil {
		return after, nil // ctx ended mid-batch: nothing acknowledged
	}
	return f.ack(b.Records[len(b.Records)-1].Seq), nil
}

// read reads the next batch, bounded by BatchBytes, retrying log errors
// other than a closed spool.
func (f *Forwarder) read(ctx context.Context, after uint64) (spool.Batch, error) {
	for {
		b, err := f.log.ReadFor(f.o.Consumer, f.o.Stream, after, f.readMax())
		if err == nil {
			b.Records = cutBytes(b.Records, f.o.BatchBytes)
			f.noteSizes(b.Records)
			return b, nil
		}
		if errors.Is(err, spool.ErrClosed) {
			return b, fmt.Errorf("uplink %s: read: %w", f.o.Consumer, err)
		}
		f.lg.Error("spool read failed", "consumer", f.o.Consumer, "err", err)
		if err := f.bo.Wait(ctx); err != nil {
			return b, nil
		}
	}
}

// readMax is how many records to read: BatchRecords, but no more than
// BatchBytes holds at the mean size of the last batch's records (plus a
// quarter, so that a batch of slightly smaller records still fills up;
// cutBytes then keeps the bound).
func (f *Forwarder) readMax() int {
	if f.recBytes == 0 {
		return f.o.BatchRecords
	}
	n := f.o.BatchBytes / f.recBytes
	return max(1, min(f.o.BatchRecords, n+n/4))
}

// noteSizes records the mean payload size of recs for readMax.
func (f *Forwarder) noteSizes(recs []spool.Record) {
	if len(recs) == 0 {
		return
	}
	n := 0
	for _, r := range recs {
		n += len(r.Value)
	}
	f.recBytes = max(1, n/len(recs))
}

// cutBytes keeps the longest prefix of recs within maxBytes of payload
// (at least one record).
func cutBytes(recs []spool.Record, maxBytes int) []spool.Record {
	n := 0
	for i, r := range recs {
		n += len(r.Value)
		if i > 0 && n > maxBytes {
			return recs[:i]
		}
	}
	return recs
}

// noteSkipped counts and logs records the spool will never return.
func (f *Forwarder) noteSkipped(after uint64, b spool.Batch) {
	if b.Skipped == 0 {
		return
	}
	f.dropped.Add(float64(b.Skipped))
	f.mu.Lock()
	f.st.Dropped += b.Skipped
	f.mu.Unlock()
	f.lg.Warn("records dropped by the spool before they were sent",
		"consumer", f.o.Consumer, "after", after, "dropped", b.Skipped)
}

// ack advances the cursor to seq; the acker makes it durable while the
// next batch is read and sent. A failed ack is logged and the forwarder
// goes on from seq: the next ack covers it, and a restart before that only
// sends the batch again.
func (f *Forwarder) ack(seq uint64) uint64 {
	var pos []byte
	if d, ok := f.sink.(Deduper); ok {
		pos = d.Positions(f.o.Stream)
	}
	f.acks.ack(seq, pos)
	f.setCursor(seq)
	return seq
}

// setCursor records the cursor; the lag is computed from it when asked
// (Status, a metrics scrape, a failed send).
func (f *Forwarder) setCursor(seq uint64) {
	f.mu.Lock()
	f.st.Cursor, f.cursorKnown = seq, true
	f.mu.Unlock()
}

func (f *Forwarder) caughtUp() {
	if f.prio {
		f.link.setPriority(f, prioState{})
	}
}

// setBacklog tells the link that this (priority) forwarder has a backlog,
// and whether it is failing to send it.
func (f *Forwarder) setBacklog(failing bool) {
	if f.prio {
		f.link.setPriority(f, prioState{backlog: true, failing: failing})
	}
}

// deliver sends recs until the sink confirmed every record or a rejected
// record went to the dead-letter stream. It returns only ctx's error.
func (f *Forwarder) deliver(ctx context.Context, recs []spool.Record) error {
	msgs := f.msgs[:0]
	for _, r := range recs {
		msgs = append(msgs, Message(r))
	}
	f.msgs = msgs
	defer func() {
		clear(msgs) // let the batch's payloads go
		f.reportDeadLetters()
	}()
	return f.sendAll(ctx, msgs)
}

// sendAll sends msgs in order, isolating rejected records: a rejection
// that names its record dead-letters that record; otherwise the batch is
// split in halves, each sent in turn, down to single records.
func (f *Forwarder) sendAll(ctx context.Context, msgs []Message) error {
	for len(msgs) > 0 {
		rest, err := f.sendRetrying(ctx, msgs)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		msgs = rest
		if i, ok := IndexOf(err); ok && i < len(msgs) {
			if err := f.sendAll(ctx, msgs[:i]); err != nil {
				return err
			}
			f.deadLetter(ctx, msgs[i:i+1], err)
			msgs = msgs[i+1:]
			continue
		}
		if len(msgs) == 1 {
			f.deadLetter(ctx, msgs, err)
			return nil
		}
		h := len(msgs) / 2
		if err := f.sendAll(ctx, msgs[:h]); err != nil {
			return err
		}
		msgs = msgs[h:]
	}
	return nil
}

// sendRetrying sends msgs, retrying retryable and throttled errors with
// backoff. It returns nil, or a rejection (ClassPermanent, ClassTooLarge)
// with the messages still undelivered, or ctx's error. When the sink
// reports which messages failed (Error.Failed), only those are sent again;
// messages it reports refused for good (Error.Rejected) go to the
// dead-letter stream at once.
func (f *Forwarder) sendRetrying(ctx context.Context, msgs []Message) ([]Message, error) {
	for {
		err := f.send(ctx, msgs)
		if err == nil {
			f.bo.Reset()
			f.link.success()
			f.confirm(msgs)
			return nil, nil
		}
		if ctx.Err() != nil {
			return msgs, ctx.Err()
		}
		if msgs = f.settle(ctx, msgs, err); len(msgs) == 0 {
			f.bo.Reset() // every message delivered or dead-lettered
			f.link.rejected(err)
			return nil, nil
		}
		if IsRejected(err) {
			f.bo.Reset()
			f.link.rejected(err)
			return msgs, err
		}
		f.link.failure(err)
		f.setBacklog(true)
		f.refreshLag()
		if err := f.waitRetry(ctx, err); err != nil {
			return msgs, err
		}
		f.setBacklog(false)
	}
}

// waitRetry waits the backoff after a failed send: the server's
// Retry-After when it throttles, else the next backoff delay, cut short
// when the link probes the server reachable again after it was not.
func (f *Forwarder) waitRetry(ctx context.Context, err error) error {
	d := f.bo.next(RetryAfter(err))
	if ClassOf(err) == ClassThrottled {
		return clock.Sleep(ctx, f.clk, d)
	}
	back, werr := f.link.waitRetry(ctx, d)
	if back {
		f.bo.Reset()
	}
	return werr
}

// narrow returns the messages of msgs that err says were not delivered,
// counting the others as sent.
func (f *Forwarder) narrow(msgs []Message, err error) []Message {
	failed, ok := FailedOf(err)
	if !ok || len(failed) == 0 || len(failed) >= len(msgs) {
		return msgs
	}
	rest := make([]Message, 0, len(failed))
	for _, i := range failed {
		if i >= 0 && i < len(msgs) {
			rest = append(rest, msgs[i])
		}
	}
	if len(rest) != len(failed) {
		return msgs // inconsistent report: send everything again
	}
	f.confirmN(len(msgs)-len(rest), payloadBytes(msgs)-payloadBytes(rest), false)
	return rest
}

func payloadBytes(msgs []Message) int {
	n := 0
	for _, m := range msgs {
		n += len(m.Value)
	}
	return n
}

// send makes one attempt, bounded by SendTimeout (and by StopGrace once
// ctx ended), and counts its outcome.
func (f *Forwarder) send(ctx context.Context, msgs []Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.o.SendTimeout)
	stop := context.AfterFunc(ctx, func() {
		select {
		case <-f.clk.After(f.o.StopGrace):
			cancel()
		case <-sctx.Done():
		}
	})
	defer stop()
	start := f.clk.Now()
	err := f.sink.Send(sctx, msgs)
	cancel()
	f.sendSeconds.Observe(f.clk.Now().Sub(start).Seconds())
	if err == nil || ctx.Err() != nil {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		err = Retryable(fmt.Errorf("%s send timed out after %s: %w", f.sink.Name(), f.o.SendTimeout, err))
	}
	f.errs.WithLabelValues(ClassOf(err).String()).Inc()
	f.mu.Lock()
	f.st.LastError, f.st.LastErrorAt = err.Error(), f.clk.Now()
	f.mu.Unlock()
	return err
}

// confirm counts a batch the sink accepted.
func (f *Forwarder) confirm(msgs []Message) {
	f.confirmN(len(msgs), payloadBytes(msgs), true)
	now := f.clk.Now().UnixNano()
	for i := range msgs {
		f.delay.Observe(model.AgeSeconds(now, msgs[i].Time))
	}
}

func (f *Forwarder) confirmN(records, bytes int, batch bool) {
	f.sent.Add(float64(records))
	f.sentBytes.Add(float64(bytes))
	if batch {
		f.batches.Inc()
	}
	f.mu.Lock()
	f.st.Sent += uint64(records)
	f.st.SentBytes += uint64(bytes)
	f.mu.Unlock()
}
