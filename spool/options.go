package spool

import (
	"io"
	"log/slog"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Policy says what the spool does when a cap is reached.
type Policy int

const (
	// DropOldest drops the oldest records of the lowest-priority stream
	// (the default).
	DropOldest Policy = iota
	// RejectNew makes Append and Commit fail with ErrFull, so that upstream
	// backpressure (an unacknowledged MQTT message) holds the data.
	RejectNew
)

// String returns the policy name as used in configuration.
func (p Policy) String() string {
	if p == RejectNew {
		return "reject-new"
	}
	return "drop-oldest"
}

// Options configure a Spool. The zero value means the defaults.
type Options struct {
	// MaxBytes is the logical byte cap of the whole spool (default 1 GiB,
	// which fits the address space of 32-bit ARM).
	MaxBytes int64
	// MaxAge drops records appended longer ago than this (0: no age cap).
	MaxAge time.Duration
	// Overflow is the policy at the byte cap.
	Overflow Policy
	// Priority orders streams for dropping: lower priority is dropped
	// first. Defaults: deadletter=0, raw=1, downsampled=2; other streams 1.
	// Entries given here override the defaults.
	Priority map[string]int
	// Consumers maps a stream to its consumer names. Records are deleted
	// once acknowledged by all consumers of their stream; cursors of
	// consumers not listed are removed at Open. A stream without consumers
	// keeps its records until a cap drops them. A nil map disables both:
	// no record is deleted by acknowledgement and no cursor is removed.
	Consumers map[string][]string
	// KeepDelivered maps a stream to how many of its newest records stay
	// after every consumer acknowledged them, for readers of the recent
	// past (the agent's duplicate detection reads them at start). The caps
	// release them before any record still to be delivered, and their
	// release is no loss: it counts in no Dropped. They count in Stats'
	// Records and Bytes.
	KeepDelivered map[string]uint64
	// CommitMaxRecords bounds the records of one group commit (default 4096).
	CommitMaxRecords int
	// CommitMaxDelay is an extra wait to fill a commit (default 0: commit as
	// soon as the previous commit ends).
	CommitMaxDelay time.Duration
	// NoSalvage makes Open fail with ErrCorrupt on a damaged file instead
	// of salvaging it (maintenance commands other than repair).
	NoSalvage bool
	// NoSync turns fsync off. For tests and benchmarks only.
	NoSync bool
	// LockTimeout bounds the wait for the file lock (default 1s); a second
	// process then gets ErrLocked.
	LockTimeout time.Duration
	// Logger receives state changes (default: discard).
	Logger *slog.Logger
	// Registerer receives the metrics (nil: not registered).
	Registerer prometheus.Registerer
	// Now is the clock (default time.Now).
	Now func() time.Time

	// ReserveBytes is the part of MaxBytes that only the streams of the
	// highest priority may use (default MaxBytes/10).
	ReserveBytes int64
	// MaxRecordBytes bounds the size of one encoded record (default 16 MiB).
	MaxRecordBytes int
}

const (
	defaultMaxBytes         = 1 << 30
	defaultCommitMaxRecords = 4096
	defaultLockTimeout      = time.Second
	defaultMaxRecordBytes   = 16 << 20
	defaultPriority         = 1
	// is32bit reports a platform whose mmap is limited to 2 GiB.
	is32bit = math.MaxInt == math.MaxInt32
)

// DefaultPriority returns the default drop priorities of the well-known
// streams.
func DefaultPriority() map[string]int {
	return map[string]int{"deadletter": 0, "raw": 1, "downsampled": 2}
}

func (o Options) withDefaults() Options {
	if o.MaxBytes <= 0 {
		o.MaxBytes = defaultMaxBytes
	}
	if o.ReserveBytes <= 0 || o.ReserveBytes >= o.MaxBytes {
		o.ReserveBytes = o.MaxBytes / 10
	}
	prio := DefaultPriority()
	for k, v := range o.Priority {
		prio[k] = v
	}
	o.Priority = prio
	if o.CommitMaxRecords <= 0 {
		o.CommitMaxRecords = defaultCommitMaxRecords
	}
	if o.CommitMaxDelay < 0 {
		o.CommitMaxDelay = 0
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = defaultLockTimeout
	}
	if o.MaxRecordBytes <= 0 {
		o.MaxRecordBytes = defaultMaxRecordBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// priority returns the drop priority of a stream.
func (o *Options) priority(stream string) int {
	if p, ok := o.Priority[stream]; ok {
		return p
	}
	return defaultPriority
}

// topPriority is the highest priority of the configured streams: streams of
// this priority may use the reserve.
func (o *Options) topPriority() int {
	top := math.MinInt
	for _, p := range o.Priority {
		top = max(top, p)
	}
	return top
}

// fileBackstop is the file size at which the spool stops growing the file.
func (o *Options) fileBackstop() int64 {
	limit := 2*o.MaxBytes + 64<<20
	if is32bit {
		limit = min(limit, 1<<30-32<<20)
	}
	return limit
}

// initialMmapSize maps the likely file size at once on 64-bit platforms so
// that commits rarely remap (a remap waits for all read transactions).
func (o *Options) initialMmapSize() int {
	if is32bit {
		return 0
	}
	return int(min(o.fileBackstop(), 8<<30))
}
