package intake

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgespool/edgespool/agent/model"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgespool/edgespool/agent/intake/pahoack"
)

// ackSettle is how long Close waits between the last Ack and DISCONNECT.
const ackSettle = 100 * time.Millisecond

// ErrStopped is returned by Start after Stop.
var ErrStopped = errors.New("intake stopped")

// item is one MQTT message on its way to the spool.
type item struct {
	msg    Message
	recs   []Record     // raw readings, or one dead-letter record
	seqs   []arrival    // per raw record (seq 0 = none)
	reason string       // rejection reason; "" when accepted
	err    *DecodeError // why it was rejected
	unk    bool         // carried ignored fields
}

// Intake moves MQTT messages into the spool. See the package doc.
type Intake struct {
	opts   Options
	app    Appender
	log    *slog.Logger
	m      *metrics
	client mqtt.Client

	decMu sync.Mutex // the paho router may overlap briefly across reconnects
	dec   Decoder
	buf   Decoded

	queue    chan item
	slots    chan struct{} // one per message held and not yet acknowledged
	held     atomic.Int64  // len(slots), and its high-water mark:
	peak     atomic.Int64  // never above MaxInflight
	rejects  rejectLog     // commit goroutine, and Close
	stopping atomic.Bool
	stopCh   chan struct{}
	done     chan struct{}
	cancel   context.CancelFunc
	tr       *tracker
	state    connState
	acks     pahoack.Writer // commit goroutine, and paho's opener/OnConnect
	ackIDs   []uint16       // commit goroutine
	closed   sync.Once
	bg       tracked // connect and subscribe goroutines; Close waits for them

	warnedQoS0 atomic.Bool
	local      bool // NewLocal: no subscription, fed through Submit
	started    atomic.Bool
}

// New prepares an Intake writing into app; nothing connects before Start.
func New(app Appender, o Options) (*Intake, error) {
	if o.Broker == "" {
		return nil, errors.New("intake: no broker URL")
	}
	in := newIntake(app, o.withDefaults())
	in.client = mqtt.NewClient(in.clientOptions())
	return in, nil
}

// NewLocal prepares an Intake without a subscription: an embedded broker
// hands it messages through Submit. Options about the broker connection
// are ignored.
func NewLocal(app Appender, o Options) *Intake {
	in := newIntake(app, o.withDefaults())
	in.local = true
	return in
}

func newIntake(app Appender, o Options) *Intake {
	return &Intake{opts: o, app: app, log: o.Logger, m: newMetrics(o.Registerer), dec: o.Decoder,
		queue: make(chan item, o.MaxInflight), slots: make(chan struct{}, o.MaxInflight),
		stopCh: make(chan struct{}), done: make(chan struct{}), tr: newTracker(),
		rejects: rejectLog{every: rejectSummaryEvery}}
}

// Client is the MQTT client, for publishing (alarms) on the same session;
// nil for a local intake.
func (in *Intake) Client() mqtt.Client { return in.client }

// Seed marks (generator, seq) as already stored, so that a redelivery of it
// is recognised as a duplicate. Call it before Start with the tail of the
// raw stream.
func (in *Intake) Seed(r model.Reading) {
	if r.Seq != 0 {
		in.tr.seed(r.GeneratorID, arrivalOf(r))
	}
}

// Start launches the commit loop and connects in the background, retrying
// forever with capped backoff; it returns at once.
func (in *Intake) Start(ctx context.Context) error {
	if in.stopping.Load() {
		return ErrStopped
	}
	ctx, in.cancel = context.WithCancel(ctx)
	go in.commitLoop(ctx) // Drain waits for it
	in.started.Store(true)
	if !in.local {
		in.bg.start(ctx, in.connectLoop)
	}
	return nil
}

// Stop is Drain then Close. ctx bounds the flush.
func (in *Intake) Stop(ctx context.Context) error {
	err := in.Drain(ctx)
	in.Close()
	return err
}

// Drain stops taking messages and waits until what was received is
// committed and acknowledged (ctx bounds the wait). The MQTT session stays
// open for publications on it (the alarms) until Close. Messages not
// acknowledged are redelivered by the broker to the next session.
func (in *Intake) Drain(ctx context.Context) error {
	if in.stopping.Swap(true) {
		return nil
	}
	close(in.stopCh)
	if in.cancel == nil {
		return nil
	}
	var err error
	select {
	case <-in.done:
	case <-ctx.Done():
		err = fmt.Errorf("intake flush: %w", ctx.Err())
	}
	in.cancel()
	return err
}

// Close disconnects from the broker (after Drain, or by itself when the
// intake never started); later calls do nothing.
func (in *Intake) Close() {
	in.closed.Do(func() {
		in.stopping.Store(true)
		if in.local {
			in.rejects.flush(in.log)
			return
		}
		// Acks travel through paho's goroutines after Ack returns, and the
		// DISCONNECT packet may overtake them; give them a moment. An ack
		// lost here only makes the broker redeliver (and dedupe drop) the
		// reading.
		time.Sleep(ackSettle)
		in.bg.stop()
		in.client.Disconnect(250)
		in.bg.wait()
		in.m.connected.Set(0)
		in.m.subscribed.Set(0)
		in.rejects.flush(in.log)
		in.log.Info("mqtt intake stopped")
	})
}

// handle runs on the paho router goroutine, in delivery order.
func (in *Intake) handle(_ mqtt.Client, msg mqtt.Message) { in.Submit(msg) }

// Submit decodes msg and queues it for the next group commit. It takes one
// of the MaxInflight slots before it holds the message, blocking while
// every slot is taken (the commit in progress and the queue behind it);
// the commit goroutine frees the slots once it has handed the messages
// their Ack, and never waits for a caller of Submit, so a blocked Submit
// cannot stall a commit. It returns false, and msg will never be
// acknowledged, once the intake is stopping (a blocked Submit returns
// then). Messages of one publisher must be submitted from one goroutine,
// in arrival order; calls from several goroutines are safe.
func (in *Intake) Submit(msg Message) bool {
	if in.stopping.Load() || !in.acquire() {
		return false // not acknowledged: the publisher sends it again
	}
	in.m.messages.Inc()
	if msg.Qos() == 0 {
		in.noteQoS0(msg.Topic())
	}
	in.queue <- in.prepare(msg, in.opts.Clock.Now()) // never blocks: a slot is held
	return true
}

// acquire takes a slot; false when the intake stops first.
func (in *Intake) acquire() bool {
	select {
	case in.slots <- struct{}{}:
	case <-in.stopCh:
		return false
	}
	n := in.held.Add(1)
	for p := in.peak.Load(); n > p && !in.peak.CompareAndSwap(p, n); p = in.peak.Load() {
	}
	in.m.inflight.Inc()
	return true
}

// release frees n slots (their messages were acknowledged).
func (in *Intake) release(n int) {
	in.m.inflight.Sub(float64(n))
	in.held.Add(-int64(n))
	for range n {
		<-in.slots
	}
}

// noteQoS0 counts a message delivered at QoS 0 and warns about the first.
func (in *Intake) noteQoS0(topic string) {
	in.m.qos0.Inc()
	if !in.local && !in.warnedQoS0.Swap(true) { // the embedded broker warns per client
		in.log.Warn("mqtt: broker delivers messages at QoS 0; they are not redelivered if the agent stops before "+
			"committing them: publish at QoS 1, or set upgrade_outgoing_qos true on Mosquitto", "topic", topic)
	}
}

// prepare decodes and encodes one message into spool records.
func (in *Intake) prepare(msg Message, now time.Time) item {
	it := item{msg: msg}
	topic := msg.Topic()
	if in.opts.Ignore != nil && in.opts.Ignore(topic) {
		it.reason = "ignored"
		return it
	}
	in.decMu.Lock()
	defer in.decMu.Unlock()
	in.buf.Readings, in.buf.UnknownFields = in.buf.Readings[:0], false
	err := in.dec.Decode(&in.buf, topic, msg.Payload(), now.UnixNano())
	var de *DecodeError
	if errors.As(err, &de) {
		it.reason, it.err = de.Reason, de
		it.recs = []Record{deadRecord(topic, msg.Payload(), de, now)}
		return it
	}
	it.unk = in.buf.UnknownFields
	it.recs = make([]Record, len(in.buf.Readings))
	it.seqs = make([]arrival, len(in.buf.Readings))
	for i, r := range in.buf.Readings {
		it.recs[i] = Record{Stream: model.StreamRaw, Key: r.GeneratorID, Time: r.Time,
			Value: model.AppendReading(make([]byte, 0, 64+len(r.GeneratorID)), r)}
		it.seqs[i] = arrivalOf(r)
		in.m.delay.Observe(model.AgeSeconds(now.UnixNano(), r.Time))
	}
	return it
}

func arrivalOf(r model.Reading) arrival {
	return arrival{seq: r.Seq, time: r.Time, stamped: r.Stamped}
}

// tracked runs background goroutines that stop and wait can end: each
// one's context ends with its parent or at stop. Start after stop runs
// nothing.
type tracked struct {
	mu      sync.Mutex
	wg      sync.WaitGroup
	quit    context.Context // ends at stop
	end     context.CancelFunc
	stopped bool
}

func (t *tracked) start(ctx context.Context, f func(ctx context.Context)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	if t.quit == nil {
		t.quit, t.end = context.WithCancel(context.Background())
	}
	t.wg.Add(1)
	ctx, cancel := context.WithCancel(ctx)
	unlink := context.AfterFunc(t.quit, cancel)
	go func() {
		defer t.wg.Done()
		defer cancel()
		defer unlink()
		f(ctx)
	}()
}

func (t *tracked) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.stopped {
		t.stopped = true
		if t.end != nil {
			t.end()
		}
	}
}

func (t *tracked) wait() { t.wg.Wait() }
