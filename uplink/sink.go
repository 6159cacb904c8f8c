package uplink

import (
	"context"
)

// Message is one spooled record handed to a sink. Its fields mirror
// spool.Record, so a record converts with Message(rec).
type Message struct {
	Stream string // spool stream: model.StreamRaw or StreamDownsampled
	Seq    uint64 // spool sequence number within Stream
	Key    string // generatorID
	Time   int64  // event time, Unix nanoseconds
	Value  []byte // model.AppendReading or AppendPoint encoding
}

// Sink is one destination. Send delivers a batch of messages of one stream
// completely or returns an error (classified with *Error; an unclassified
// error counts as ClassRetryable). After an error any part of the batch may
// have been delivered: forwarders send it again, so delivery is
// at-least-once and sinks make replays harmless (Kafka identity headers,
// InfluxDB points that overwrite themselves).
//
// Send is not called concurrently for the same stream, but may be called
// concurrently for different streams. Close releases the sink's
// connections; Send must not be called after it.
type Sink interface {
	Name() string
	Send(ctx context.Context, msgs []Message) error
	Close() error
}

// BatchLimits are a sink's preferred batch bounds; a forwarder never sends
// more records or more payload bytes (sum of len(Value)) in one batch.
type BatchLimits struct {
	Records int
	Bytes   int
}

// Limiter is implemented by sinks that bound batches.
type Limiter interface {
	BatchLimits() BatchLimits
}
