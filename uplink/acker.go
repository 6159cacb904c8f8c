package uplink

import (
	"log/slog"
	"sync"
)

// acker makes a forwarder's cursor durable in the background: the spool
// commits an ack with the next group commit (an fsync), and waiting for it
// between batches would add that time to every batch's latency. While one
// ack commits, later ones are merged: only the newest sequence number is
// committed next. A crash between a confirmed send and its ack resends
// that batch on restart, as it would with synchronous acks.
type acker struct {
	log              Log
	consumer, stream string
	lg               *slog.Logger

	mu        sync.Mutex
	idle      *sync.Cond // signalled when the goroutine stops with nothing pending
	pending   uint64     // newest seq asked for
	meta      []byte     // to store with pending (nil: keep the stored one)
	committed uint64     // newest seq handed to the log
	running   bool
}

func newAcker(log Log, consumer, stream string, lg *slog.Logger) *acker {
	a := &acker{log: log, consumer: consumer, stream: stream, lg: lg}
	a.idle = sync.NewCond(&a.mu)
	return a
}

// ack asks for the cursor to move to seq, with meta stored beside it when
// not nil, and returns at once.
func (a *acker) ack(seq uint64, meta []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if seq > a.pending {
		a.pending, a.meta = seq, meta
	}
	if !a.running && a.pending > a.committed {
		a.running = true
		go a.run()
	}
}

// run commits the newest pending seq until none is left.
func (a *acker) run() {
	a.mu.Lock()
	for a.pending > a.committed {
		seq, meta := a.pending, a.meta
		a.mu.Unlock()
		var err error
		if meta != nil {
			err = a.log.Commit(a.consumer, a.stream, seq, meta, nil)
		} else {
			err = a.log.Ack(a.consumer, a.stream, seq)
		}
		if err != nil {
			a.lg.Error("cursor ack failed", "consumer", a.consumer, "seq", seq, "err", err)
		}
		a.mu.Lock()
		a.committed = seq
	}
	a.running = false
	a.idle.Broadcast()
	a.mu.Unlock()
}

// flush waits until every ack asked for was handed to the log and its
// commit returned.
func (a *acker) flush() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for a.running {
		a.idle.Wait()
	}
}
