package downsample

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/edgespool/edgespool/agent/model"

	"github.com/edgespool/edgespool/spool"
)

// fakeLog is an in-memory Log with the spool's semantics (one transaction
// per Commit, cursors never move back, Notify on new records) and knobs to
// inject failures.
type fakeLog struct {
	mu      sync.Mutex
	streams map[string][]spool.Record // records by stream, Seq ascending, maybe with gaps
	last    map[string]uint64
	cursors map[string]uint64
	metas   map[string][]byte
	waiters map[string]chan struct{}

	failReads   int    // next ReadAfter calls that fail
	failCommits int    // next Commit calls that fail
	closed      bool   // every call fails with spool.ErrClosed
	commits     int    // successful commits
	onCommit    func() // called after each successful commit, lock held
	onRead      func() // called before each ReadAfter, lock not held
}

var errInjected = errors.New("injected failure")

func newFakeLog() *fakeLog {
	return &fakeLog{streams: map[string][]spool.Record{}, last: map[string]uint64{}, cursors: map[string]uint64{},
		metas: map[string][]byte{}, waiters: map[string]chan struct{}{}}
}

// append adds records to a stream and wakes its waiters.
func (f *fakeLog) append(stream string, values ...[]byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, v := range values {
		f.last[stream]++
		f.streams[stream] = append(f.streams[stream], spool.Record{Stream: stream, Seq: f.last[stream], Value: v})
	}
	f.wake(stream)
}

// appendReadings appends encoded readings to the raw stream.
func (f *fakeLog) appendReadings(rs ...model.Reading) {
	vs := make([][]byte, len(rs))
	for i, r := range rs {
		vs[i] = model.AppendReading(nil, r)
	}
	f.append(model.StreamRaw, vs...)
}

// drop removes records of a stream, as a cap would.
func (f *fakeLog) drop(stream string, seqs ...uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.streams[stream] = slices.DeleteFunc(f.streams[stream], func(r spool.Record) bool {
		return slices.Contains(seqs, r.Seq)
	})
}

func (f *fakeLog) wake(stream string) {
	if ch := f.waiters[stream]; ch != nil {
		close(ch)
		delete(f.waiters, stream)
	}
}

func (f *fakeLog) ReadAfter(stream string, after uint64, max int) (spool.Batch, error) {
	if f.onRead != nil {
		f.onRead()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail(&f.failReads); err != nil {
		return spool.Batch{}, err
	}
	recs := f.streams[stream]
	i, _ := slices.BinarySearchFunc(recs, after+1, func(r spool.Record, s uint64) int { return cmp.Compare(r.Seq, s) })
	var b spool.Batch
	for ; i < len(recs) && len(b.Records) < max; i++ {
		if n := len(b.Records); n > 0 && recs[i].Seq != b.Records[n-1].Seq+1 {
			break
		}
		b.Records = append(b.Records, recs[i])
	}
	if len(b.Records) > 0 {
		b.Skipped = b.Records[0].Seq - after - 1
	} else if f.last[stream] > after {
		b.Skipped = f.last[stream] - after
	}
	return b, nil
}

func (f *fakeLog) Cursor(consumer, stream string) (uint64, []byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return 0, nil, spool.ErrClosed
	}
	k := consumer + "/" + stream
	return f.cursors[k], slices.Clone(f.metas[k]), nil
}

func (f *fakeLog) Commit(consumer, stream string, ackSeq uint64, meta []byte, derived []spool.Record) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail(&f.failCommits); err != nil {
		return err
	}
	k := consumer + "/" + stream
	if ackSeq < f.cursors[k] || ackSeq > f.last[stream] {
		return fmt.Errorf("commit %d, cursor %d, last %d: %w", ackSeq, f.cursors[k], f.last[stream], spool.ErrOutOfRange)
	}
	for _, r := range derived {
		f.last[r.Stream]++
		r.Seq = f.last[r.Stream]
		r.Value = slices.Clone(r.Value)
		f.streams[r.Stream] = append(f.streams[r.Stream], r)
		f.wake(r.Stream)
	}
	f.cursors[k], f.metas[k] = ackSeq, slices.Clone(meta)
	f.commits++
	if f.onCommit != nil {
		f.onCommit()
	}
	return nil
}

func (f *fakeLog) Notify(stream string) <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.waiters[stream] == nil {
		f.waiters[stream] = make(chan struct{})
	}
	return f.waiters[stream]
}

func (f *fakeLog) fail(n *int) error {
	if f.closed {
		return spool.ErrClosed
	}
	if *n > 0 {
		*n--
		return errInjected
	}
	return nil
}

func (f *fakeLog) set(fn func(f *fakeLog)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// points decodes the downsampled stream.
func (f *fakeLog) points() ([]model.Point, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var pts []model.Point
	for _, r := range f.streams[model.StreamDownsampled] {
		p, err := model.DecodePoint(r.Value)
		if err != nil {
			return nil, err
		}
		if r.Key != p.GeneratorID || r.Time != p.Time {
			return nil, fmt.Errorf("record key %q time %d for point %s at %d", r.Key, r.Time, p.GeneratorID, p.Time)
		}
		pts = append(pts, p)
	}
	return pts, nil
}

// ReadFor reads as ReadAfter; the fake does no drop accounting.
func (f *fakeLog) ReadFor(_, stream string, after uint64, max int) (spool.Batch, error) {
	return f.ReadAfter(stream, after, max)
}
