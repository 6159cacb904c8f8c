package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/twmb/franz-go/pkg/kgo"
)

// relay is a minimal stand-in for the agent, used to test the demo
// harness on its own: MQTT in, an in-memory queue, Kafka out with retries,
// and a per-generator window downsample. dropEvery > 0 loses every
// dropEvery-th reading, to check that the demo then fails.
type relay struct {
	env       Env
	dropEvery uint64
	mq        mqtt.Client
	kc        *kgo.Client
	stop      chan struct{}
	done      chan struct{}

	mu      sync.Mutex
	raw     []*kgo.Record
	down    []*kgo.Record
	open    map[string]*openWindow
	spooled atomic.Uint64
	fwd     atomic.Uint64
	alarms  atomic.Uint64
}

type openWindow struct {
	start   int64
	latest  map[string]any
	t       int64
	arrived time.Time
}

func startRelay(dropEvery uint64) StartFunc {
	return func(ctx context.Context, env Env) (Agent, error) {
		r := &relay{env: env, dropEvery: dropEvery, stop: make(chan struct{}), done: make(chan struct{}), open: map[string]*openWindow{}}
		var err error
		// Records must outlive the demo's 2 s cut: with a 2 s delivery
		// timeout, a loaded run once saw every later downsampled batch
		// fail after the restore.
		r.kc, err = kgo.NewClient(kgo.SeedBrokers(env.KafkaBrokers...), kgo.RecordDeliveryTimeout(30*time.Second))
		if err != nil {
			return nil, err
		}
		o := mqtt.NewClientOptions().AddBroker(env.MQTT).SetClientID("relay").
			SetDefaultPublishHandler(r.handle).SetOrderMatters(true)
		r.mq = mqtt.NewClient(o)
		if tok := r.mq.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			return nil, fmt.Errorf("relay connect: %v", tok.Error())
		}
		if tok := r.mq.Subscribe(env.Topic, 1, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			return nil, fmt.Errorf("relay subscribe: %v", tok.Error())
		}
		go r.forward()
		return r, nil
	}
}

func (r *relay) handle(_ mqtt.Client, m mqtt.Message) {
	var v map[string]any
	if json.Unmarshal(m.Payload(), &v) != nil {
		return
	}
	id, _ := v["generatorID"].(string)
	seq, _ := v["seq"].(float64)
	if r.dropEvery > 0 && uint64(seq)%r.dropEvery == 0 {
		return
	}
	t, _ := time.Parse(time.RFC3339Nano, v["time"].(string))
	rec := &kgo.Record{Topic: r.env.RawTopic, Key: []byte(id), Value: m.Payload(),
		Headers: []kgo.RecordHeader{{Key: "edgespool-id", Value: fmt.Appendf(nil, "%s/seq/%d", id, int64(seq))}}}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.raw = append(r.raw, rec)
	r.spooled.Add(1)
	r.window(id, t.UnixNano(), v)
}

// window keeps the latest reading of the open window and emits the
// previous window when a reading of a later one arrives.
func (r *relay) window(id string, t int64, v map[string]any) {
	w := t - t%int64(r.env.Window)
	cur := r.open[id]
	if cur != nil && cur.start != w {
		r.emit(id, cur)
		cur = nil
	}
	if cur == nil {
		cur = &openWindow{start: w}
		r.open[id] = cur
	}
	if t >= cur.t {
		cur.t, cur.latest = t, v
	}
	cur.arrived = time.Now()
}

func (r *relay) emit(id string, w *openWindow) {
	p := map[string]any{}
	for k, v := range w.latest {
		p[k] = v
	}
	p["alarm"], p["region"] = "no action", "US"
	if p["fuel"].(float64) < 500 {
		p["alarm"] = "refuel"
		r.alarms.Add(1)
	}
	p["window"] = time.Unix(0, w.start).UTC().Format(time.RFC3339Nano)
	b, _ := json.Marshal(p)
	r.down = append(r.down, &kgo.Record{Topic: r.env.DownTopic, Key: []byte(id), Value: b})
}

// forward sends queued records in order, retrying a failed batch.
func (r *relay) forward() {
	defer close(r.done)
	for {
		select {
		case <-r.stop:
			return
		case <-time.After(50 * time.Millisecond):
		}
		r.closeIdle()
		r.send(&r.down)
		r.send(&r.raw)
	}
}

func (r *relay) closeIdle() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, w := range r.open {
		if time.Since(w.arrived) > r.env.IdleClose {
			r.emit(id, w)
			delete(r.open, id)
		}
	}
}

func (r *relay) send(q *[]*kgo.Record) {
	r.mu.Lock()
	batch := append([]*kgo.Record(nil), (*q)[:min(len(*q), 500)]...)
	r.mu.Unlock()
	if len(batch) == 0 || r.kc.ProduceSync(context.Background(), batch...).FirstErr() != nil {
		return
	}
	r.mu.Lock()
	*q = (*q)[len(batch):]
	r.mu.Unlock()
	r.fwd.Add(uint64(len(batch)))
}

func (r *relay) Counters() Counters {
	r.mu.Lock()
	backlog := len(r.raw) + len(r.down)
	r.mu.Unlock()
	return Counters{Spooled: r.spooled.Load(), Backlog: uint64(backlog), Forwarded: r.fwd.Load(), Alarms: r.alarms.Load()}
}

func (r *relay) Stop(context.Context) error {
	close(r.stop)
	<-r.done
	r.mq.Disconnect(100)
	r.kc.Close()
	return nil
}
