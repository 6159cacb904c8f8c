package uplink

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/edgespool/edgespool/agent/clock"
	"github.com/edgespool/edgespool/agent/model"

	"github.com/edgespool/edgespool/spool"
)

// t0 is the event time of the first generated reading.
var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// reading returns the i-th reading of generator g (seq i+1, one per second).
func reading(g, i int) model.Reading {
	return model.Reading{
		GeneratorID: fmt.Sprintf("generator%d", g),
		Time:        t0.Add(time.Duration(i) * time.Second).UnixNano(),
		Seq:         uint64(i + 1),
		Lat:         40.71427 + float64(g)/1000, Lon: -74.00597,
		Temperature: int64(160 + i%140), Power: int64(i % 2600), Load: int64(i % 101), Fuel: int64(900 - i%1400),
	}
}

func point(g, i int) model.Point {
	r := reading(g, i)
	alarm := "no action"
	if r.Fuel < 500 {
		alarm = "refuel"
	}
	return model.Point{Reading: r, Window: r.Time - r.Time%int64(time.Minute), Alarm: alarm, Region: "US"}
}

// rawRecords returns n readings of gens generators, interleaved, as spool
// records (without Seq).
func rawRecords(n, gens int) []spool.Record {
	recs := make([]spool.Record, n)
	for k := range recs {
		r := reading(k%gens, k/gens)
		recs[k] = spool.Record{Stream: model.StreamRaw, Key: r.GeneratorID, Time: r.Time,
			Value: model.AppendReading(nil, r)}
	}
	return recs
}

func downRecords(n, gens int) []spool.Record {
	recs := make([]spool.Record, n)
	for k := range recs {
		p := point(k%gens, k/gens*60)
		recs[k] = spool.Record{Stream: model.StreamDownsampled, Key: p.GeneratorID, Time: p.Time,
			Value: model.AppendPoint(nil, p)}
	}
	return recs
}

// newFakeClock is a virtual clock that advances by every duration it is
// asked to wait, at once, and records the waits.
func newFakeClock() *clock.Auto { return clock.NewAuto(t0.Add(time.Hour)) }

// memLog is an in-memory Log.
type memLog struct {
	mu       sync.Mutex
	streams  map[string][]spool.Record // index = seq-1; nil Value = dropped
	cursors  map[string]uint64         // consumer+"\x00"+stream
	metas    map[string][]byte         // stored beside cursors
	acks     []uint64
	notify   map[string]chan struct{}
	appendFn func([]spool.Record) error // optional failure injection
}

func newMemLog() *memLog {
	return &memLog{streams: map[string][]spool.Record{}, cursors: map[string]uint64{}, notify: map[string]chan struct{}{}}
}

func (l *memLog) Append(_ context.Context, recs []spool.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.appendFn != nil {
		if err := l.appendFn(recs); err != nil {
			return err
		}
	}
	for i := range recs {
		s := recs[i].Stream
		recs[i].Seq = uint64(len(l.streams[s]) + 1)
		l.streams[s] = append(l.streams[s], recs[i])
		if ch, ok := l.notify[s]; ok {
			close(ch)
			delete(l.notify, s)
		}
	}
	return nil
}

// drop marks records of stream with seq in [from, to] as dropped by a cap.
func (l *memLog) drop(stream string, from, to uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for s := from; s <= to; s++ {
		l.streams[stream][s-1].Value = nil
	}
}

func (l *memLog) ReadAfter(stream string, after uint64, max int) (spool.Batch, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b spool.Batch
	all := l.streams[stream]
	for s := after + 1; s <= uint64(len(all)) && len(b.Records) < max; s++ {
		r := all[s-1]
		if r.Value == nil {
			if len(b.Records) > 0 {
				break // records are consecutive
			}
			b.Skipped++
			continue
		}
		b.Records = append(b.Records, r)
	}
	return b, nil
}

func (l *memLog) Cursor(consumer, stream string) (uint64, []byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := consumer + "\x00" + stream
	return l.cursors[k], l.metas[k], nil
}

func (l *memLog) Commit(consumer, stream string, seq uint64, meta []byte, _ []spool.Record) error {
	if err := l.Ack(consumer, stream, seq); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.metas == nil {
		l.metas = map[string][]byte{}
	}
	l.metas[consumer+"\x00"+stream] = append([]byte(nil), meta...)
	return nil
}

func (l *memLog) Ack(consumer, stream string, seq uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := consumer + "\x00" + stream
	if seq > l.cursors[k] {
		l.cursors[k] = seq
	}
	l.acks = append(l.acks, seq)
	return nil
}

func (l *memLog) Notify(stream string) <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	ch, ok := l.notify[stream]
	if !ok {
		ch = make(chan struct{})
		l.notify[stream] = ch
	}
	return ch
}

func (l *memLog) records(stream string) []spool.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]spool.Record(nil), l.streams[stream]...)
}

func (l *memLog) cursor(consumer, stream string) uint64 {
	seq, _, _ := l.Cursor(consumer, stream)
	return seq
}

// memSink is the in-memory Sink: it stores what it accepted and fails as
// its hook says.
type memSink struct {
	name  string
	mu    sync.Mutex
	got   []Message
	sends int
	// fail, if set, decides the outcome of each Send before anything is stored.
	fail func(msgs []Message) error
}

func (s *memSink) Name() string { return s.name }
func (s *memSink) Close() error { return nil }

func (s *memSink) Send(ctx context.Context, msgs []Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	s.sends++
	fail := s.fail
	s.mu.Unlock()
	if fail != nil {
		if err := fail(msgs); err != nil {
			return err
		}
	}
	for i, m := range msgs {
		if m.Stream != model.StreamRaw && m.Stream != model.StreamDownsampled {
			return AtIndex(i, Permanent(fmt.Errorf("no destination for stream %q", m.Stream)))
		}
		if _, err := decode(m); err != nil {
			return AtIndex(i, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range msgs {
		m.Value = append([]byte(nil), m.Value...)
		s.got = append(s.got, m)
	}
	return nil
}

func (s *memSink) received() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.got...)
}

// ReadFor reads as ReadAfter; the fake does no drop accounting.
func (l *memLog) ReadFor(_, stream string, after uint64, max int) (spool.Batch, error) {
	return l.ReadAfter(stream, after, max)
}
