package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgespool/edgespool/agent/clock"
	"github.com/edgespool/edgespool/agent/model"
)

// Publisher sends one message. It may block while its window of
// unacknowledged messages is full. acked is called once the broker has
// acknowledged the message, in publish order for one Publisher.
type Publisher interface {
	Publish(ctx context.Context, topic string, payload []byte, acked func()) error
}

// Recorder receives every reading handed to a Publisher (the published
// log). It must be safe for concurrent use.
type Recorder interface {
	Record(r model.Reading) error
}

// Options configure a Fleet. The zero value runs one generator at one
// reading per second until the context ends.
type Options struct {
	Generators int           // number of generators; default 1
	First      int           // index of the first generator; default 1
	Seed       uint64        // model seed; same seed, same fleet
	Rate       float64       // readings per second per generator; default 1
	Count      uint64        // readings per generator; 0 = no limit
	Duration   time.Duration // run time on Clock; 0 = no limit
	Bare       bool          // send the bare reference payload (no time, seq)
	MaxLag     time.Duration // see Pacer; zero = DefaultMaxLag
	// Align makes all generators publish at multiples of it (see
	// Pacer.Align): bursts that the MQTT connections write together,
	// cheaper for the simulator and the broker at high rates. Zero: each
	// generator on its own schedule.
	Align    time.Duration
	Clock    clock.Clock  // default the real clock
	Logger   *slog.Logger // default slog.Default()
	Recorder Recorder     // optional published log
}

func (o Options) withDefaults() Options {
	if o.Generators <= 0 {
		o.Generators = 1
	}
	if o.First <= 0 {
		o.First = 1
	}
	if o.Rate <= 0 {
		o.Rate = 1
	}
	o.Clock = clock.Or(o.Clock)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Fleet runs a set of generators against one or more Publishers.
type Fleet struct {
	o       Options
	pubs    []Publisher
	devices []*device

	published, acked, skipped atomic.Uint64
}

type device struct {
	gen       *Generator
	published atomic.Uint64 // highest seq handed to the publisher
	acked     atomic.Uint64 // highest seq acknowledged (acks come in order)
	first     atomic.Int64
	last      atomic.Int64
}

// New returns a fleet whose generator i publishes through pubs[i % len(pubs)].
func New(o Options, pubs ...Publisher) (*Fleet, error) {
	if len(pubs) == 0 {
		return nil, errors.New("fleet: no publisher")
	}
	o = o.withDefaults()
	f := &Fleet{o: o, pubs: pubs}
	for i := 0; i < o.Generators; i++ {
		f.devices = append(f.devices, &device{gen: NewGenerator(o.Seed, o.First+i)})
	}
	return f, nil
}

// Run publishes until every generator has sent Count readings, Duration
// has passed, or ctx ends (which is not an error). It returns the first
// publish error otherwise.
func (f *Fleet) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := f.o.Clock.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(f.devices))
	for i, d := range f.devices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = f.runDevice(ctx, d, f.pubs[i%len(f.pubs)], start); errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (f *Fleet) runDevice(ctx context.Context, d *device, pub Publisher, start time.Time) error {
	p := &Pacer{Rate: f.o.Rate, Clock: f.o.Clock, MaxLag: f.o.MaxLag, Align: f.o.Align}
	defer func() { f.skipped.Add(p.Skipped()) }()
	topic := Topic(d.gen.ID)
	for f.o.Count == 0 || d.gen.Seq() < f.o.Count {
		now, err := p.Wait(ctx)
		if err != nil || (f.o.Duration > 0 && now.Sub(start) >= f.o.Duration) {
			return nil
		}
		if err := f.send(ctx, d, pub, topic, d.gen.Next(now)); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("%s: publish seq %d: %w", d.gen.ID, d.gen.Seq(), err)
		}
	}
	return nil
}

func (f *Fleet) send(ctx context.Context, d *device, pub Publisher, topic string, r model.Reading) error {
	payload := AppendPayload(make([]byte, 0, 200), r, f.o.Bare)
	d.published.Store(r.Seq)
	d.first.CompareAndSwap(0, r.Time)
	d.last.Store(r.Time)
	seq := r.Seq
	err := pub.Publish(ctx, topic, payload, func() {
		d.acked.Store(seq)
		f.acked.Add(1)
	})
	if err != nil {
		return err
	}
	f.published.Add(1)
	if f.o.Recorder != nil {
		if err := f.o.Recorder.Record(r); err != nil {
			return fmt.Errorf("published log: %w", err)
		}
	}
	return nil
}
