package spool

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"
)

// The group-commit loop. Append, Ack, Commit and internal maintenance queue
// an op; one goroutine takes everything queued (up to CommitMaxRecords
// records), applies it in one bbolt transaction, commits, and releases the
// callers. A commit starts as soon as the previous one ends, so the batch
// size adapts to the load: one record per commit when idle, thousands under
// pressure.

type opKind int

const (
	opAppend  opKind = iota
	opAck            // move a cursor forward
	opCommit         // derived records and a cursor, atomically
	opPurge          // delete records found corrupt
	opMaint          // age cap and retention without other work
	opCompact        // explicit compaction
	opRemove         // delete a consumer's cursors
)

type op struct {
	kind     opKind
	recs     []Record
	enc      *encodedBatch
	consumer string
	stream   string
	seq      uint64
	meta     []byte
	purge    map[string][]uint64
	removed  []string // streams whose cursor opRemove deleted
	final    bool     // last commit before close (handoff accounting)
	enqueued time.Time

	taken bool // under queue.mu: the loop owns the op
	err   error
	done  chan struct{}
}

func (o *op) size() int { return max(1, len(o.recs)) }

// queue holds the ops waiting for the commit loop.
type queue struct {
	mu      sync.Mutex
	pending []*op
	records int
	signal  chan struct{}
	closed  bool
}

func (q *queue) init() { q.signal = make(chan struct{}, 1) }

func (q *queue) push(o *op) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrClosed
	}
	o.done = make(chan struct{})
	q.pending = append(q.pending, o)
	q.records += o.size()
	q.wake()
	return nil
}

func (q *queue) wake() {
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// remove takes a not yet committed op back; false if the loop has it.
func (q *queue) remove(o *op) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if o.taken {
		return false
	}
	for i, p := range q.pending {
		if p == o {
			q.pending = append(q.pending[:i], q.pending[i+1:]...)
			q.records -= o.size()
			return true
		}
	}
	return false
}

func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.wake()
}

// take removes up to maxRecords records' worth of ops (at least one op).
// It reports false when the queue is closed and empty.
func (q *queue) take(maxRecords int) ([]*op, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.pending) == 0 {
		return nil, !q.closed
	}
	n, recs := 0, 0
	for n < len(q.pending) && (n == 0 || recs+q.pending[n].size() <= maxRecords) {
		q.pending[n].taken = true
		recs += q.pending[n].size()
		n++
	}
	batch := make([]*op, n)
	copy(batch, q.pending[:n])
	q.pending = append(q.pending[:0], q.pending[n:]...)
	q.records -= recs
	if len(q.pending) > 0 {
		q.wake()
	}
	return batch, true
}

// settle yields to the callers the last commit released, so that those
// about to queue again join the next commit, as long as the queue grows
// (a few microseconds at most).
func (q *queue) settle() {
	for i := 0; i < 4; i++ {
		before := q.queuedRecords()
		runtime.Gosched()
		if q.queuedRecords() == before {
			return
		}
	}
}

func (q *queue) isClosed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}

func (q *queue) queuedRecords() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.records
}

// loop is the commit loop; it exits when the queue is closed and drained.
func (s *Spool) loop() {
	defer close(s.loopDone)
	maint := time.NewTicker(s.maintEvery())
	defer maint.Stop()
	for {
		select {
		case <-s.q.signal:
		case <-maint.C:
			s.maintain()
			continue
		}
		ran := false
		for {
			s.fillDelay()
			s.q.settle()
			batch, open := s.q.take(s.opts.CommitMaxRecords)
			if batch == nil {
				if !open {
					s.finalCommit()
					return
				}
				break
			}
			s.runBatch(batch)
			s.releaseMapIfDue()
			ran = true
		}
		if s.needRecover.Load() {
			s.recoverRuntime()
		}
		if !ran && (s.hasPurges() || s.ho.hasLost()) {
			s.maintain()
		}
	}
}

// finalCommit counts, as the spool closes, the records dropped while
// consumers held them unacknowledged: a consumer resumes from its durable
// cursor and will not get them again.
func (s *Spool) finalCommit() {
	if s.ho.hasPending() && !s.readOnly {
		s.commitOps([]*op{{kind: opMaint, final: true, done: make(chan struct{})}}, false)
	}
}

// fillDelay waits up to CommitMaxDelay for the commit to fill, waking on
// each queued op.
func (s *Spool) fillDelay() {
	d := s.opts.CommitMaxDelay
	if d <= 0 || s.q.queuedRecords() >= s.opts.CommitMaxRecords {
		return
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	for s.q.queuedRecords() < s.opts.CommitMaxRecords && !s.q.isClosed() {
		select {
		case <-s.q.signal:
		case <-timer.C:
			return
		}
	}
}

func (s *Spool) maintEvery() time.Duration {
	if s.opts.MaxAge <= 0 {
		return time.Minute
	}
	return min(max(s.opts.MaxAge/10, time.Second), time.Minute)
}

// maintain runs the age cap, pending purges and auto compaction when idle.
func (s *Spool) maintain() {
	s.runBatch([]*op{{kind: opMaint, done: make(chan struct{})}})
	s.releaseMapIfDue()
}

// submit queues o and waits for its commit. A caller whose context ends
// before the loop took its op gets ctx.Err() and nothing is written.
func (s *Spool) submit(ctx context.Context, o *op) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if s.readOnly {
		return ErrReadOnly
	}
	o.enqueued = time.Now()
	if err := s.q.push(o); err != nil {
		return err
	}
	select {
	case <-o.done:
		return o.err
	case <-ctx.Done():
		if s.q.remove(o) {
			return ctx.Err()
		}
		<-o.done
		return o.err
	}
}

// Append appends recs in one group commit, fills in recs[i].Seq, and
// returns after the commit is durable. Either all records of the call are
// appended or none.
func (s *Spool) Append(ctx context.Context, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	if err := s.checkRecords(recs); err != nil {
		return err
	}
	start := time.Now()
	enc := encodeBatch(recs, s.opts.Now().UnixNano())
	err := s.submit(ctx, &op{kind: opAppend, recs: recs, enc: enc})
	s.m.appendLatency.Observe(time.Since(start).Seconds())
	if err != nil {
		return fmt.Errorf("spool append: %w", err)
	}
	return nil
}

// Ack durably moves consumer's cursor on stream to seq. A seq at or below
// the cursor is a no-op; a seq beyond the stream's last record is
// ErrOutOfRange.
func (s *Spool) Ack(consumer, stream string, seq uint64) error {
	if err := checkCursorArgs(consumer, stream); err != nil {
		return err
	}
	if seq <= s.cursor(cursorID{consumer, stream}).Seq {
		return nil
	}
	o := &op{kind: opAck, consumer: consumer, stream: stream, seq: seq}
	if err := s.submit(context.Background(), o); err != nil {
		return fmt.Errorf("spool ack %s/%s %d: %w", consumer, stream, seq, err)
	}
	return nil
}

// Commit appends derived records (Seq filled in) and sets consumer's cursor
// on stream to ackSeq with meta, in one transaction. ackSeq may equal the
// current cursor (to update meta) but not lie below it.
func (s *Spool) Commit(consumer, stream string, ackSeq uint64, meta []byte, derived []Record) error {
	if err := checkCursorArgs(consumer, stream); err != nil {
		return err
	}
	if err := s.checkRecords(derived); err != nil {
		return err
	}
	o := &op{kind: opCommit, consumer: consumer, stream: stream, seq: ackSeq,
		meta: append([]byte(nil), meta...), recs: derived, enc: encodeBatch(derived, s.opts.Now().UnixNano())}
	if err := s.submit(context.Background(), o); err != nil {
		return fmt.Errorf("spool commit %s/%s %d: %w", consumer, stream, ackSeq, err)
	}
	return nil
}

func checkCursorArgs(consumer, stream string) error {
	if err := checkName("consumer", consumer); err != nil {
		return err
	}
	return checkName("stream", stream)
}

func (s *Spool) checkRecords(recs []Record) error {
	for i := range recs {
		if err := checkName("stream", recs[i].Stream); err != nil {
			return err
		}
		if n := recordLen(&recs[i]); n > s.opts.MaxRecordBytes {
			return fmt.Errorf("record of %d bytes exceeds %d: %w", n, s.opts.MaxRecordBytes, ErrInvalid)
		}
	}
	return nil
}
