package uplink

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"
)

// gatedLog records Ack calls; each signals entered (if set) and waits
// for a value on gate.
type gatedLog struct {
	Log
	gate, entered chan struct{}
	mu            sync.Mutex
	acks          []uint64
}

func (l *gatedLog) Ack(_, _ string, seq uint64) error {
	if l.entered != nil {
		l.entered <- struct{}{}
	}
	<-l.gate
	l.mu.Lock()
	defer l.mu.Unlock()
	l.acks = append(l.acks, seq)
	return nil
}

func (l *gatedLog) seen() []uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.acks)
}

func TestAckerMergesAcksWhileOneCommits(t *testing.T) {
	l := &gatedLog{gate: make(chan struct{}), entered: make(chan struct{}, 10)}
	a := newAcker(l, "kafka/raw", "raw", slog.New(slog.DiscardHandler))
	a.ack(10, nil)
	<-l.entered // 10 is committing (held at the gate)
	a.ack(20, nil)
	a.ack(15, nil) // older than a pending ack: ignored
	a.ack(30, nil)
	close(l.gate)
	a.flush()
	if got := l.seen(); !slices.Equal(got, []uint64{10, 30}) {
		t.Fatalf("acks committed %v, want [10 30] (20 merged into 30)", got)
	}
	a.ack(30, nil) // nothing new
	a.flush()
	if got := l.seen(); len(got) != 2 {
		t.Fatalf("a repeated ack was committed again: %v", got)
	}
}

func TestAckerFlushWaitsForTheCommitInFlight(t *testing.T) {
	l := &gatedLog{gate: make(chan struct{})}
	a := newAcker(l, "kafka/raw", "raw", slog.New(slog.DiscardHandler))
	a.ack(5, nil)
	flushed := make(chan struct{})
	go func() { a.flush(); close(flushed) }()
	select {
	case <-flushed:
		t.Fatal("flush returned before the ack was committed")
	case <-time.After(50 * time.Millisecond):
	}
	close(l.gate)
	select {
	case <-flushed:
	case <-time.After(5 * time.Second):
		t.Fatal("flush did not return after the commit")
	}
	if got := l.seen(); !slices.Equal(got, []uint64{5}) {
		t.Fatalf("acks %v, want [5]", got)
	}
}

// slowAckLog is a memLog whose acks take a while to commit.
type slowAckLog struct{ *memLog }

func (l slowAckLog) Ack(consumer, stream string, seq uint64) error {
	time.Sleep(30 * time.Millisecond)
	return l.memLog.Ack(consumer, stream, seq)
}

// TestForwarderCursorIsDurableWhenRunReturns: acks are asynchronous, but
// Run returns only once the last one is committed.
func TestForwarderCursorIsDurableWhenRunReturns(t *testing.T) {
	log := newMemLog()
	if err := log.Append(context.Background(), rawRecords(100, 3)); err != nil {
		t.Fatal(err)
	}
	sink := &memSink{name: "mem"}
	f, err := NewForwarder(slowAckLog{log}, sink, ForwarderOptions{Stream: "raw", BatchRecords: 7})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(sink.received()) < 100 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if seq := log.cursor(f.Consumer(), "raw"); seq != 100 {
		t.Fatalf("durable cursor %d after Run returned, want 100", seq)
	}
}
