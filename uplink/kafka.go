package uplink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/edgespool/edgespool/agent/clock"
	"github.com/edgespool/edgespool/agent/model"

	"github.com/segmentio/kafka-go"
)

// Kafka header keys of every record. HeaderID is the record's stable
// identity: "<generatorID>/seq/<n>" when the reading had a device sequence
// number, "<generatorID>/time/<event time ns>" otherwise, and
// "<generatorID>/window/<window start ns>" for downsampled points. A
// replayed record carries the same identity, so consumers drop replays by
// it. HeaderStream is the spool stream ("raw" or "downsampled").
const (
	HeaderID     = "edgespool-id"
	HeaderStream = "edgespool-stream"
)

// Default Kafka topics (the reference pipeline).
const (
	DefaultRawTopic         = "emergency_generators"
	DefaultDownsampledTopic = "emergency_generators_downsampled"
)

// KafkaOptions configure a Kafka sink. The zero value of every field but
// Brokers means its default.
type KafkaOptions struct {
	Brokers []string // bootstrap host:port list (required)
	// Topics maps a spool stream to its topic (default raw →
	// emergency_generators, downsampled → emergency_generators_downsampled).
	Topics map[string]string
	// Compression: "lz4" (default), "none", "gzip", "snappy" or "zstd".
	Compression string
	// AutoCreateTopics asks the brokers to create missing topics (they must
	// also allow it). Off by default: topics must exist, and a missing
	// topic keeps the link down ("unknown topic or partition") until it does.
	AutoCreateTopics bool
	// BatchRecords bounds the records of one write (default 5000; also the
	// forwarders' batch). BatchBytes bounds the bytes (keys, JSON values,
	// headers) of one write (default 1 MiB: under the brokers' default
	// message.max.bytes even uncompressed); a larger Send is written in
	// several writes, in order.
	BatchRecords, BatchBytes int
	// MaxMessageBytes is the largest record accepted; a larger one is
	// ClassTooLarge (default 1,000,000, the brokers' default).
	MaxMessageBytes int
	// BatchTimeout is how long kafka-go waits to fill a partition batch
	// (default 2ms: forwarders hand over whole batches, so waiting gains
	// nothing).
	BatchTimeout time.Duration
	// WriteTimeout bounds one produce request (default 10s).
	WriteTimeout time.Duration
	// MaxAttempts is kafka-go's attempts per partition batch for temporary
	// errors before Send fails (default 3); forwarders retry after that.
	MaxAttempts int
	// MaxBytesPerSecond caps the record bytes (keys, JSON values, headers)
	// sent per second (0: no cap). Compression makes the wire bytes fewer.
	MaxBytesPerSecond int64
	// LookupTimeout bounds the check on start of which records sent after
	// the last durable cursor already reached Kafka (default 30s);
	// LookupMaxRecords bounds the records it reads (default 1,000,000,
	// every gateway's records in the partitions since the stored offsets).
	// A check that fails or exceeds them sends the records again.
	LookupTimeout    time.Duration
	LookupMaxRecords int
	TLS              TLSOptions
	SASL             SASLOptions
	Name             string // sink name in logs and metrics (default "kafka")
	Logger           *slog.Logger
	Clock            clock.Clock
}

// Kafka is a Sink writing JSON records to Kafka with kafka-go: key =
// generatorID, murmur2 partitioner (same partitions as Java clients),
// acks=all.
//
// kafka-go allocates every partition batch with room for the writer's
// BatchSize messages (152 bytes each), so a writer sized for a 10,000
// record backlog batch allocates and clears 1.5 MB per partition for
// each live write of a few dozen readings. The sink therefore keeps
// writers of growing BatchSize (64, 512, 4096, ... up to BatchRecords)
// over one shared connection pool, and each write goes to the smallest
// writer that holds it, still as one produce batch per partition.
type Kafka struct {
	o         KafkaOptions
	writers   []*kafka.Writer // BatchSize ascending, the last = BatchRecords
	transport *kafka.Transport
	limit     *rateLimiter
	pos       positions
}

// writerTiers are the BatchSizes of the writers for a BatchRecords bound.
func writerTiers(batchRecords int) []int {
	var tiers []int
	for n := 64; n < batchRecords; n *= 8 {
		tiers = append(tiers, n)
	}
	return append(tiers, batchRecords)
}

// writerFor returns the smallest writer whose BatchSize holds n messages.
func (k *Kafka) writerFor(n int) *kafka.Writer {
	for _, w := range k.writers {
		if n <= w.BatchSize {
			return w
		}
	}
	return k.writers[len(k.writers)-1]
}

// NewKafka returns a Kafka sink. It does not connect: the first Send does.
func NewKafka(o KafkaOptions) (*Kafka, error) {
	if len(o.Brokers) == 0 {
		return nil, errors.New("kafka: no brokers")
	}
	o = kafkaDefaults(o)
	codec, err := compression(o.Compression)
	if err != nil {
		return nil, err
	}
	tlsConf, err := o.TLS.Config()
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	mech, err := o.SASL.mechanism()
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	k := &Kafka{o: o, limit: newRateLimiter(o.MaxBytesPerSecond, o.Clock),
		transport: &kafka.Transport{ClientID: "edgespool", DialTimeout: 5 * time.Second, TLS: tlsConf, SASL: mech}}
	for _, size := range writerTiers(o.BatchRecords) {
		k.writers = append(k.writers, k.newWriter(size, codec))
	}
	return k, nil
}

func (k *Kafka) newWriter(batchSize int, codec kafka.Compression) *kafka.Writer {
	o := k.o
	return &kafka.Writer{
		Addr:                   kafka.TCP(o.Brokers...),
		Balancer:               kafka.Murmur2Balancer{Consistent: true},
		MaxAttempts:            o.MaxAttempts,
		WriteBackoffMin:        50 * time.Millisecond,
		WriteBackoffMax:        500 * time.Millisecond,
		BatchSize:              batchSize,
		BatchBytes:             2 * int64(o.BatchBytes), // never split a write: kafka-go counts some overhead
		BatchTimeout:           o.BatchTimeout,
		WriteTimeout:           o.WriteTimeout,
		RequiredAcks:           kafka.RequireAll,
		Compression:            codec,
		AllowAutoTopicCreation: o.AutoCreateTopics,
		ErrorLogger: kafka.LoggerFunc(func(format string, args ...any) {
			o.Logger.Debug("kafka client error", "sink", o.Name, "err", fmt.Sprintf(format, args...))
		}),
		Transport:  k.transport,
		Completion: k.pos.completed,
	}
}

func kafkaDefaults(o KafkaOptions) KafkaOptions {
	if o.Topics == nil {
		o.Topics = map[string]string{
			model.StreamRaw:         DefaultRawTopic,
			model.StreamDownsampled: DefaultDownsampledTopic,
		}
	}
	setDefault(&o.BatchRecords, 5000)
	setDefault(&o.BatchBytes, 1<<20)
	setDefault(&o.MaxMessageBytes, 1_000_000)
	o.BatchBytes = max(o.BatchBytes, o.MaxMessageBytes)
	setDefault(&o.MaxAttempts, 3)
	setDefault(&o.BatchTimeout, 2*time.Millisecond)
	setDefault(&o.WriteTimeout, 10*time.Second)
	setDefault(&o.LookupTimeout, 30*time.Second)
	setDefault(&o.LookupMaxRecords, 1_000_000)
	setDefault(&o.Name, "kafka")
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

func setDefault[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}

func compression(name string) (kafka.Compression, error) {
	switch strings.ToLower(name) {
	case "", "lz4":
		return kafka.Lz4, nil
	case "none":
		return 0, nil
	case "gzip":
		return kafka.Gzip, nil
	case "snappy":
		return kafka.Snappy, nil
	case "zstd":
		return kafka.Zstd, nil
	}
	return 0, fmt.Errorf("kafka: compression %q: want lz4, none, gzip, snappy or zstd", name)
}

// Name returns the sink's name.
func (k *Kafka) Name() string { return k.o.Name }

// BatchLimits returns the forwarders' batch bound: BatchRecords.
func (k *Kafka) BatchLimits() BatchLimits { return BatchLimits{Records: k.o.BatchRecords} }

// Close flushes and closes the writers and their connections.
func (k *Kafka) Close() error {
	var errs []error
	for _, w := range k.writers {
		errs = append(errs, w.Close())
	}
	k.transport.CloseIdleConnections()
	return errors.Join(errs...)
}

// Send writes msgs and waits until every partition leader and its
// replicas acknowledged them. Batches larger than BatchRecords or
// BatchBytes go out as several writes, in order.
func (k *Kafka) Send(ctx context.Context, msgs []Message) error {
	km, err := k.encode(msgs)
	if err != nil {
		return err
	}
	for start := 0; start < len(km); {
		end, size := start, 0
		for end < len(km) && end-start < k.o.BatchRecords {
			n := kafkaSize(km[end])
			if end > start && size+n > k.o.BatchBytes {
				break
			}
			size += n
			end++
		}
		if err := k.write(ctx, km[start:end], size); err != nil {
			return withFailed(err, start, end, len(km))
		}
		start = end
	}
	return nil
}

func (k *Kafka) write(ctx context.Context, km []kafka.Message, size int) error {
	if err := k.limit.wait(ctx, size); err != nil {
		return err
	}
	if err := k.writerFor(len(km)).WriteMessages(ctx, km...); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("kafka write: %w", classifyKafka(err))
	}
	return nil
}

func kafkaSize(m kafka.Message) int {
	n := len(m.Key) + len(m.Value)
	for _, h := range m.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

// encode builds the kafka-go messages of msgs. Keys, values and identity
// headers of one batch share one arena; kafka-go may still read them after
// a cancelled Send, so the arena is never reused.
func (k *Kafka) encode(msgs []Message) ([]kafka.Message, error) {
	km := make([]kafka.Message, len(msgs))
	headers := make([]kafka.Header, 2*len(msgs))
	arena := make([]byte, 0, len(msgs)*320)
	var stream string
	var streamVal []byte
	for i, m := range msgs {
		topic, ok := k.o.Topics[m.Stream]
		if !ok {
			return nil, AtIndex(i, Permanent(fmt.Errorf("kafka: no topic for stream %q", m.Stream)))
		}
		if m.Stream != stream || streamVal == nil {
			stream, streamVal = m.Stream, []byte(m.Stream)
		}
		it, err := decode(m)
		if err != nil {
			return nil, AtIndex(i, err)
		}
		start := len(arena)
		arena = append(arena, it.GeneratorID...)
		keyEnd := len(arena)
		arena = appendJSON(arena, it)
		valEnd := len(arena)
		arena = appendIdentity(arena, it)
		h := headers[2*i : 2*i+2 : 2*i+2]
		h[0] = kafka.Header{Key: HeaderID, Value: arena[valEnd:len(arena):len(arena)]}
		h[1] = kafka.Header{Key: HeaderStream, Value: streamVal}
		km[i] = kafka.Message{Topic: topic, Key: arena[start:keyEnd:keyEnd], Value: arena[keyEnd:valEnd:valEnd], Headers: h}
		if n := kafkaSize(km[i]); n > k.o.MaxMessageBytes {
			return nil, AtIndex(i, TooLarge(fmt.Errorf("kafka: record of %d bytes exceeds %d", n, k.o.MaxMessageBytes)))
		}
	}
	return km, nil
}

// appendIdentity appends the HeaderID value of it.
func appendIdentity(b []byte, it item) []byte {
	b = append(b, it.GeneratorID...)
	switch {
	case it.down:
		b = append(b, "/window/"...)
		return strconv.AppendInt(b, it.Window, 10)
	case it.Seq != 0:
		b = append(b, "/seq/"...)
		return strconv.AppendUint(b, it.Seq, 10)
	}
	b = append(b, "/time/"...)
	return strconv.AppendInt(b, it.Time, 10)
}
