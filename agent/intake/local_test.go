package intake

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// ackLog records the order of Acks across the messages of several
// publishers (the commit goroutine calls Ack).
type ackLog struct {
	mu  sync.Mutex
	ids map[string][]int // publisher → seqs in Ack order
}

func (l *ackLog) add(pub string, seq int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ids[pub] = append(l.ids[pub], seq)
}

func (l *ackLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.ids {
		n += len(s)
	}
	return n
}

// localMsg is a message an embedded broker's connection would submit.
type localMsg struct {
	message
	pub string
	seq int
	log *ackLog
}

func (m *localMsg) Ack() { m.log.add(m.pub, m.seq) }

// submitAll submits n messages per publisher, each publisher from its own
// goroutine (a broker's connection); ok counts the accepted ones.
func submitAll(in *Intake, pubs []string, n int, log *ackLog) (wait func() int) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for _, p := range pubs {
		wg.Go(func() {
			for seq := 1; seq <= n; seq++ {
				m := &localMsg{message: message{qos: 1, id: uint16(seq), payload: reading(p, seq)}, pub: p, seq: seq, log: log}
				if !in.Submit(m) {
					return
				}
				mu.Lock()
				ok++
				mu.Unlock()
			}
		})
	}
	return func() int { wg.Wait(); return ok }
}

// TestSubmitHoldsAtMostMaxInflight: publishers submitting concurrently to
// a local intake share its MaxInflight slots while the commit hangs, and
// once it recovers every message is stored and acknowledged, each
// publisher's in order.
func TestSubmitHoldsAtMostMaxInflight(t *testing.T) {
	const limit, n = 8, 200
	app := &stuckSpool{gate: make(chan struct{})}
	in := NewLocal(app, Options{MaxInflight: limit, Decoder: Decoder{MaxPayload: 1024}})
	if err := in.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer in.Stop(context.Background())
	log := &ackLog{ids: map[string][]int{}}
	pubs := []string{"g1", "g2", "g3"}
	wait := submitAll(in, pubs, n, log)
	deadline := time.Now().Add(10 * time.Second)
	for in.held.Load() < limit || app.entered.Load() < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("held %d, want %d behind the stuck commit", in.held.Load(), limit)
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if h := in.held.Load(); h != limit {
		t.Errorf("held %d while the commit hangs, want %d", h, limit)
	}
	close(app.gate)
	if ok := wait(); ok != len(pubs)*n {
		t.Fatalf("%d messages accepted, want %d", ok, len(pubs)*n)
	}
	for log.count() < len(pubs)*n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	for _, p := range pubs {
		if got := log.ids[p]; len(got) != n || !ascending(got) {
			t.Errorf("%s: %d acks, in order %v", p, len(got), ascending(got))
		}
	}
	if peak := in.peak.Load(); peak > limit {
		t.Errorf("held up to %d messages, limit %d", peak, limit)
	}
}

// TestDrainReleasesBlockedSubmits: Submits waiting for a slot behind a
// hung commit return false once Drain starts, so a broker's connection
// goroutines never keep the shutdown waiting.
func TestDrainReleasesBlockedSubmits(t *testing.T) {
	app := &stuckSpool{gate: make(chan struct{})}
	in := NewLocal(app, Options{MaxInflight: 4, Decoder: Decoder{MaxPayload: 1024}})
	if err := in.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	log := &ackLog{ids: map[string][]int{}}
	wait := submitAll(in, []string{"g1", "g2"}, 50, log)
	for in.held.Load() < 4 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := in.Drain(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Drain with the commit hung: %v, want its deadline", err)
	}
	done := make(chan int, 1)
	go func() { done <- wait() }()
	select {
	case ok := <-done:
		if ok != 4 {
			t.Errorf("%d messages accepted, want the 4 slots", ok)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Submit still blocked after Drain")
	}
	if n := log.count(); n != 0 {
		t.Errorf("%d messages acknowledged without a commit", n)
	}
	in.Close()
}

func ascending(s []int) bool {
	for i := 1; i < len(s); i++ {
		if s[i] <= s[i-1] {
			return false
		}
	}
	return true
}
