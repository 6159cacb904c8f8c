package spool

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Record is one entry of a stream.
type Record struct {
	Stream string // stream name
	Seq    uint64 // assigned by Append: strictly increasing per stream, starting at 1
	Key    string // device id (generatorID); may be empty
	Time   int64  // event time, Unix nanoseconds
	Value  []byte // opaque payload
}

// Batch is the result of a read.
type Batch struct {
	// Records hold consecutive sequence numbers.
	Records []Record
	// Skipped counts sequence numbers between `after` and the first returned
	// record that will never be returned (dropped by a cap, deleted, or
	// skipped because corrupt). With no record returned, it counts those up
	// to the last sequence number of the stream; acknowledge after+Skipped
	// then, so the gap is reported once.
	Skipped uint64
}

// Last returns the sequence number up to which the batch accounts for the
// stream: the last record's Seq, or after+Skipped for an empty batch.
func (b Batch) Last(after uint64) uint64 {
	if n := len(b.Records); n > 0 {
		return b.Records[n-1].Seq
	}
	return after + b.Skipped
}

// Errors returned by the spool.
var (
	// ErrLocked: another process holds the spool file.
	ErrLocked = errors.New("spool: file locked by another process")
	// ErrFull: the cap is reached and the policy is RejectNew.
	ErrFull = errors.New("spool: full")
	// ErrClosed: the spool is closed.
	ErrClosed = errors.New("spool: closed")
	// ErrInvalid: an argument is invalid (empty stream name, record too large).
	ErrInvalid = errors.New("spool: invalid argument")
	// ErrOutOfRange: an acknowledgement beyond the stream's last sequence
	// number, or a Commit that would move a cursor backwards.
	ErrOutOfRange = errors.New("spool: sequence out of range")
	// ErrReadOnly: a write to a spool opened with OpenReadOnly.
	ErrReadOnly = errors.New("spool: opened read-only")
)

// Spool is a durable multi-consumer log in one bbolt file. All methods are
// safe for concurrent use.
type Spool struct {
	path string
	opts Options
	log  *slog.Logger
	m    *metrics

	// dbMu guards db, which compaction and recovery replace; every
	// transaction holds it for reading.
	dbMu sync.RWMutex
	db   *bolt.DB

	// stMu guards the committed in-memory state. Only the commit loop
	// writes it.
	stMu    sync.Mutex
	streams map[string]*streamState
	cursors map[cursorID]*cursorState

	q      queue
	notify notifier
	ret    retentionLog

	ho handoffs

	corruptMu      sync.Mutex
	corruptPending map[string]map[uint64]bool

	closed   atomic.Bool
	readOnly bool
	// report gathers the repairs of Open (see Repair).
	report RepairReport
	// needRecover asks the commit loop to reopen (and salvage) the file
	// after a transaction met a damaged page.
	needRecover atomic.Bool
	// backstopCap lowers the cap while the file sits at its size backstop.
	backstopCap atomic.Int64
	backstop    atomic.Int64 // bytes of pages in use that trigger the backstop
	usedBytes   atomic.Int64 // bytes of pages in use (bbolt high water mark)
	lastCompact time.Time
	loopDone    chan struct{}
	// mapped counts the bytes read through bbolt's map since its pages
	// were last released (mapped.go).
	mapped mapBudget

	// test hooks and tunables
	autoCompactMinFile atomic.Int64
	autoCompactEvery   atomic.Int64 // time.Duration
}

// Open opens or creates the spool file at path. A missing or empty (0-byte)
// file becomes a new spool: an empty file is what a crash while the file
// was created leaves. A damaged spool is salvaged and moved aside (see the
// package documentation) unless Options.NoSalvage is set; a file that is
// not a spool yields ErrNotSpool and is left untouched; another process
// holding the file yields ErrLocked.
func Open(path string, o Options) (*Spool, error) {
	s, err := newSpool(path, o)
	if err != nil {
		return nil, err
	}
	if err := s.openAndLoad(); err != nil {
		s.m.unregister()
		return nil, err
	}
	go s.loop()
	return s, nil
}

// newSpool builds a Spool without opening its file.
func newSpool(path string, o Options) (*Spool, error) {
	o = o.withDefaults()
	s := &Spool{
		path:           path,
		opts:           o,
		log:            o.Logger.With("component", "spool"),
		streams:        map[string]*streamState{},
		cursors:        map[cursorID]*cursorState{},
		corruptPending: map[string]map[uint64]bool{},
		loopDone:       make(chan struct{}),
	}
	s.autoCompactMinFile.Store(64 << 20)
	s.backstop.Store(o.fileBackstop())
	s.autoCompactEvery.Store(int64(autoCompactEvery))
	s.q.init()
	s.notify.init()
	m, err := newMetrics(o.Registerer, s)
	if err != nil {
		return nil, fmt.Errorf("spool metrics: %w", err)
	}
	s.m = m
	return s, nil
}

// openAndLoad opens the file (salvaging it if needed) and loads the state.
func (s *Spool) openAndLoad() error {
	db, res, err := s.openFile()
	if err != nil {
		return err
	}
	s.dbMu.Lock()
	s.db = db
	s.dbMu.Unlock()
	if err := s.load(res); err != nil {
		_ = db.Close()
		return fmt.Errorf("spool load %s: %w", s.path, err)
	}
	return nil
}

// Close flushes pending appends, stops the commit loop and closes the file.
func (s *Spool) Close() error {
	if s.closed.Swap(true) {
		return ErrClosed
	}
	s.q.close()
	<-s.loopDone
	s.notify.closeAll()
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	s.m.unregister()
	if s.db == nil { // a reopen after damage failed
		return nil
	}
	if !s.readOnly {
		if err := saveFreelist(s.db); err != nil {
			s.log.Warn("spool: free page list not saved; the next start rebuilds it", "err", err)
		}
	}
	err := s.db.Close()
	s.db = nil
	if err != nil {
		return fmt.Errorf("spool close: %w", err)
	}
	return nil
}

// Notify returns a channel that is closed at the next commit that adds
// records to stream (or when the spool closes).
func (s *Spool) Notify(stream string) <-chan struct{} {
	return s.notify.wait(stream, s.closed.Load())
}

// Path returns the file path of the spool.
func (s *Spool) Path() string { return s.path }

// stream returns a copy of the committed state of a stream.
func (s *Spool) stream(name string) streamState {
	s.stMu.Lock()
	defer s.stMu.Unlock()
	if st := s.streams[name]; st != nil {
		return *st
	}
	return streamState{}
}

// notifier hands out channels closed at the next commit to a stream.
type notifier struct {
	mu     sync.Mutex
	chans  map[string]chan struct{}
	closed bool
}

func (n *notifier) init() { n.chans = map[string]chan struct{}{} }

func (n *notifier) wait(stream string, closed bool) <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed || closed {
		c := make(chan struct{})
		close(c)
		return c
	}
	c := n.chans[stream]
	if c == nil {
		c = make(chan struct{})
		n.chans[stream] = c
	}
	return c
}

func (n *notifier) fire(streams map[string]bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for name := range streams {
		if c := n.chans[name]; c != nil {
			close(c)
			delete(n.chans, name)
		}
	}
}

func (n *notifier) closeAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.closed = true
	for name, c := range n.chans {
		close(c)
		delete(n.chans, name)
	}
}
