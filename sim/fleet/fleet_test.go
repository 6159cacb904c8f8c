package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent/model"
)

type message struct {
	topic   string
	payload map[string]any
}

// fakePub records messages and acknowledges at once, or fails at failAt.
type fakePub struct {
	mu     sync.Mutex
	msgs   []message
	failAt int
	noAck  bool
}

func (p *fakePub) Publish(_ context.Context, topic string, payload []byte, acked func()) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failAt > 0 && len(p.msgs)+1 == p.failAt {
		return errors.New("broker said no")
	}
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		return err
	}
	p.msgs = append(p.msgs, message{topic, m})
	if !p.noAck {
		acked()
	}
	return nil
}

func TestFleetCountPerGenerator(t *testing.T) {
	pub := &fakePub{}
	var log bytes.Buffer
	lw := NewLogWriter(&log)
	f, err := New(Options{Generators: 3, Rate: 1000, Count: 100, Seed: 1, Clock: newFakeClock(), Recorder: lw}, pub)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	lastSeq := map[string]float64{}
	for _, m := range pub.msgs {
		id := m.payload["generatorID"].(string)
		if m.topic != "emergency_generator/"+id {
			t.Fatalf("topic %q for %s", m.topic, id)
		}
		if seq := m.payload["seq"].(float64); seq != lastSeq[id]+1 {
			t.Fatalf("%s: seq %v after %v", id, seq, lastSeq[id])
		}
		lastSeq[id]++
	}
	if len(lastSeq) != 3 || lastSeq["generator3"] != 100 {
		t.Fatalf("per generator last seq %v", lastSeq)
	}
	checkSummary(t, f.Summary(), 3, 100, 100)
	if s := f.Stats(); s.Published != 300 || s.Acked != 300 {
		t.Fatalf("stats %+v", s)
	}
	lw.Flush()
	checkLog(t, &log, 300)
}

func checkSummary(t *testing.T, s Summary, n int, published, acked uint64) {
	t.Helper()
	if len(s.Devices) != n {
		t.Fatalf("summary has %d devices", len(s.Devices))
	}
	var buf bytes.Buffer
	if err := s.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	back, err := ReadSummary(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range back.Devices {
		if d.Published != published || d.Acked != acked {
			t.Fatalf("%s: published %d acked %d, want %d %d", d.ID, d.Published, d.Acked, published, acked)
		}
		if !d.LastTime.After(d.FirstTime) {
			t.Fatalf("%s: times %v..%v", d.ID, d.FirstTime, d.LastTime)
		}
	}
}

func checkLog(t *testing.T, log *bytes.Buffer, want int) {
	t.Helper()
	n := 0
	err := ReadLog(log, func(r model.Reading) error {
		if r.Seq == 0 || r.GeneratorID == "" || r.Time == 0 {
			t.Fatalf("bad log reading %+v", r)
		}
		n++
		return nil
	})
	if err != nil || n != want {
		t.Fatalf("log: %d readings, err %v; want %d", n, err, want)
	}
}

func TestFleetDurationOnInjectedClock(t *testing.T) {
	pub := &fakePub{}
	f, _ := New(Options{Generators: 2, Rate: 10, Duration: 5 * time.Second, Clock: newFakeClock()}, pub)
	if err := f.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Two generators share one virtual clock, so each sees the other's
	// sleeps; the total is still bounded by the rate.
	if n := len(pub.msgs); n < 50 || n > 100 {
		t.Fatalf("%d messages in 5 virtual seconds at 2x10/s", n)
	}
}

func TestFleetBarePayload(t *testing.T) {
	pub := &fakePub{}
	f, _ := New(Options{Rate: 100, Count: 3, Bare: true, Clock: newFakeClock()}, pub)
	f.Run(context.Background())
	for _, m := range pub.msgs {
		if _, ok := m.payload["seq"]; ok {
			t.Fatalf("bare payload has seq: %v", m.payload)
		}
	}
}

func TestFleetPublishErrorStopsRun(t *testing.T) {
	pub := &fakePub{failAt: 5}
	f, _ := New(Options{Rate: 100, Count: 10, Clock: newFakeClock()}, pub)
	err := f.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "generator1: publish seq 5") {
		t.Fatalf("err %v", err)
	}
	s := f.Summary().Devices[0]
	if s.Published != 5 || s.Acked != 4 {
		t.Fatalf("summary %+v: want published 5 (uncertain), acked 4", s)
	}
}

func TestFleetUnackedAreUncertain(t *testing.T) {
	pub := &fakePub{noAck: true}
	f, _ := New(Options{Rate: 100, Count: 4, Clock: newFakeClock()}, pub)
	f.Run(context.Background())
	if s := f.Summary().Devices[0]; s.Published != 4 || s.Acked != 0 {
		t.Fatalf("summary %+v", s)
	}
}

func TestNewNeedsPublisher(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Fatal("New without publisher succeeded")
	}
}
