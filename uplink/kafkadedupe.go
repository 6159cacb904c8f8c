package uplink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"
)

// Deduper is implemented by sinks that can tell, after a restart, which
// of the records sent after the last durable cursor already reached them.
// The forwarder stores Positions(stream) with every acknowledged cursor
// and calls Delivered with them before it sends anything on start.
type Deduper interface {
	// Positions returns where the sink's next records of stream will go
	// (for Kafka: the next offset of every partition written so far), to be
	// stored beside the cursor. Nil when nothing is known yet.
	Positions(stream string) []byte
	// Delivered returns the identities (HeaderID values) of the records of
	// the generators keys (this gateway's) that the sink holds after
	// positions; positions nil means that
	// nothing was stored yet, and then Delivered returns the current
	// positions to store before sending (Kafka: the end of every
	// partition).
	Delivered(ctx context.Context, stream string, positions []byte, keys map[string]bool) (found map[string]bool, start []byte, err error)
}

// kafkaPositions is the stored form of Positions: partition -> next offset.
type kafkaPositions struct {
	Next map[int]int64 `json:"kafka_next_offsets"`
}

// positions tracks the next offset of each partition of each topic
// written, from the writers' completion reports.
type positions struct {
	mu   sync.Mutex
	next map[string]map[int]int64 // topic -> partition -> next offset
}

func (p *positions) completed(msgs []kafka.Message, err error) {
	if err != nil || len(msgs) == 0 {
		return
	}
	last := msgs[len(msgs)-1] // one partition batch, offsets ascending
	p.note(last.Topic, last.Partition, last.Offset+1)
}

func (p *positions) note(topic string, partition int, next int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next == nil {
		p.next = map[string]map[int]int64{}
	}
	if p.next[topic] == nil {
		p.next[topic] = map[int]int64{}
	}
	if next > p.next[topic][partition] {
		p.next[topic][partition] = next
	}
}

// Positions returns the next offsets of the stream's topic as JSON.
func (k *Kafka) Positions(stream string) []byte {
	k.pos.mu.Lock()
	defer k.pos.mu.Unlock()
	next := k.pos.next[k.o.Topics[stream]]
	if len(next) == 0 {
		return nil
	}
	b, _ := json.Marshal(kafkaPositions{Next: maps.Clone(next)})
	return b
}

// Delivered reads each partition of the stream's topic from the stored
// next offset to its end and returns the HeaderID of every record whose
// key (generatorID) is in keys: other gateways' records are passed over. It reads at most LookupMaxRecords records; beyond that it
// fails, and the forwarder sends without skipping.
func (k *Kafka) Delivered(ctx context.Context, stream string, stored []byte, keys map[string]bool) (map[string]bool, []byte, error) {
	topic := k.o.Topics[stream]
	ctx, cancel := context.WithTimeout(ctx, k.o.LookupTimeout)
	defer cancel()
	ends, err := k.endOffsets(ctx, topic)
	if err != nil {
		return nil, nil, lookupError(ctx, err)
	}
	if stored == nil { // first start: nothing before the current ends is ours to check
		for p, end := range ends {
			k.pos.note(topic, p, end)
		}
		return nil, k.Positions(stream), nil
	}
	var from kafkaPositions
	if err := json.Unmarshal(stored, &from); err != nil {
		return nil, nil, fmt.Errorf("kafka lookup: stored positions: %w", err)
	}
	found, budget := map[string]bool{}, k.o.LookupMaxRecords
	for p, end := range ends {
		start, ok := from.Next[p]
		if !ok {
			start = 0 // a partition this gateway never wrote to as far as it knows
		}
		k.pos.note(topic, p, start)
		if budget, err = k.scan(ctx, topic, p, start, end, budget, keys, found); err != nil {
			return nil, nil, lookupError(ctx, err)
		}
	}
	k.o.Logger.Info("kafka lookup: records of this gateway found after the stored offsets",
		"sink", k.o.Name, "topic", topic, "records", len(found), "read", k.o.LookupMaxRecords-budget,
		"from", offsetList(from.Next), "to", offsetList(ends))
	return found, nil, nil
}

// offsetList formats partition offsets as "p:offset ..." in partition
// order, for logs.
func offsetList(offsets map[int]int64) string {
	var b []byte
	for _, p := range slices.Sorted(maps.Keys(offsets)) {
		if len(b) > 0 {
			b = append(b, ' ')
		}
		b = strconv.AppendInt(append(strconv.AppendInt(b, int64(p), 10), ':'), offsets[p], 10)
	}
	return string(b)
}

// lookupError classifies a failed lookup: Retryable when the brokers
// could not be reached or answered with a temporary error (the forwarder
// waits for them, as it would to send), unclassified otherwise (an
// authorization refusal, or a lookup that outlasted LookupTimeout on
// ctx: the forwarder sends without skipping).
func lookupError(ctx context.Context, err error) error {
	var ne *net.OpError
	var ke kafka.Error // also a net.Error: decided by its code alone
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("kafka lookup: not done within the lookup timeout: %w", err)
	case errors.As(err, &ke):
		if leaderError(ke) {
			return Retryable(err)
		}
	case errors.As(err, &ne), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, context.DeadlineExceeded):
		return Retryable(err)
	}
	return err
}

// leaderError reports a broker error that passes while leadership moves
// or brokers restart (kafka-go calls many more errors temporary,
// authorization refusals among them).
func leaderError(e kafka.Error) bool {
	switch e {
	case kafka.LeaderNotAvailable, kafka.NotLeaderForPartition, kafka.RequestTimedOut,
		kafka.BrokerNotAvailable, kafka.NetworkException, kafka.NotCoordinatorForGroup,
		kafka.NotEnoughReplicas, kafka.KafkaStorageError:
		return true
	}
	return false
}

// endOffsets returns the end offset of every partition of topic.
func (k *Kafka) endOffsets(ctx context.Context, topic string) (map[int]int64, error) {
	cl := &kafka.Client{Addr: kafka.TCP(k.o.Brokers...), Transport: k.transport}
	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("kafka lookup: metadata: %w", err)
	}
	if len(md.Topics) != 1 || md.Topics[0].Error != nil {
		return nil, fmt.Errorf("kafka lookup: metadata of %s: %v", topic, md.Topics)
	}
	var reqs []kafka.OffsetRequest
	for _, p := range md.Topics[0].Partitions {
		reqs = append(reqs, kafka.LastOffsetOf(p.ID))
	}
	res, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("kafka lookup: end offsets: %w", err)
	}
	ends := map[int]int64{}
	for _, po := range res.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("kafka lookup: end offset of %s/%d: %w", topic, po.Partition, po.Error)
		}
		ends[po.Partition] = po.LastOffset
	}
	if len(ends) != len(reqs) {
		return nil, fmt.Errorf("kafka lookup: %d end offsets for %d partitions of %s", len(ends), len(reqs), topic)
	}
	return ends, nil
}

// scan reads partition p of topic over [start, end), adding to found the
// HeaderID values of the records with a key in keys, and returns the
// records budget left.
func (k *Kafka) scan(ctx context.Context, topic string, p int, start, end int64, budget int,
	keys, found map[string]bool) (int, error) {
	cl := &kafka.Client{Addr: kafka.TCP(k.o.Brokers...), Transport: k.transport}
	for off := start; off < end; {
		res, err := cl.Fetch(ctx, &kafka.FetchRequest{Topic: topic, Partition: p, Offset: off,
			MinBytes: 1, MaxBytes: 4 << 20, MaxWait: 100 * time.Millisecond})
		if err == nil {
			err = res.Error
		}
		if err != nil {
			return budget, fmt.Errorf("kafka lookup: fetch %s/%d at %d: %w", topic, p, off, err)
		}
		next, n, err := readIDs(res.Records, off, end, keys, found)
		if err != nil {
			return budget, fmt.Errorf("kafka lookup: read %s/%d at %d: %w", topic, p, off, err)
		}
		if budget -= n; budget < 0 {
			return budget, fmt.Errorf("kafka lookup: more than %d records after the stored offsets", k.o.LookupMaxRecords)
		}
		if next == off {
			return budget, fmt.Errorf("kafka lookup: no progress in %s/%d at %d of %d", topic, p, off, end)
		}
		off = next
	}
	return budget, nil
}

// readIDs reads a fetched record set and returns the offset after the
// last record read and the records read in [from, end).
func readIDs(rr kafka.RecordReader, from, end int64, keys, found map[string]bool) (int64, int, error) {
	if rr == nil {
		return from, 0, nil
	}
	next, n := from, 0
	for {
		r, err := rr.ReadRecord()
		if errors.Is(err, io.EOF) {
			return next, n, nil
		}
		if err != nil {
			return next, n, err
		}
		if r.Offset < from || r.Offset >= end {
			continue
		}
		next, n = r.Offset+1, n+1
		if !keys[readKey(r)] {
			continue
		}
		for _, h := range r.Headers {
			if h.Key == HeaderID {
				found[string(h.Value)] = true
			}
		}
	}
}

func readKey(r *kafka.Record) string {
	if r.Key == nil {
		return ""
	}
	b, _ := io.ReadAll(r.Key)
	return string(b)
}

// idOf returns the HeaderID of a message, as the Kafka sink writes it.
func idOf(m Message) (string, error) {
	it, err := decode(m)
	if err != nil {
		return "", err
	}
	return string(appendIdentity(nil, it)), nil
}
