package verify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// HeaderID is the Kafka header holding a record's stable identity.
const HeaderID = "edgespool-id"

// KafkaOptions configure ReadKafka.
type KafkaOptions struct {
	Brokers []string
	Topic   string
	TLS     *tls.Config
	Opts    []kgo.Opt     // extra client options (SASL...)
	Timeout time.Duration // default one minute
	Logger  *slog.Logger
}

// KafkaResult is what ReadKafka read.
type KafkaResult struct {
	Observations []Observation
	Undecodable  int
}

// ReadKafka reads every record of the topic, from each partition's start
// to the end offset at the time of the call, in partition order. A topic
// that does not exist yields no records.
func ReadKafka(ctx context.Context, o KafkaOptions) (KafkaResult, error) {
	if o.Timeout <= 0 {
		o.Timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	opts := append([]kgo.Opt{kgo.SeedBrokers(o.Brokers...)}, o.Opts...)
	if o.TLS != nil {
		opts = append(opts, kgo.DialTLSConfig(o.TLS))
	}
	ends, err := endOffsets(ctx, opts, o.Topic)
	if err != nil || len(ends) == 0 {
		return KafkaResult{}, err
	}
	starts := map[string]map[int32]kgo.Offset{o.Topic: {}}
	for p := range ends {
		starts[o.Topic][p] = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(append(opts, kgo.ConsumePartitions(starts))...)
	if err != nil {
		return KafkaResult{}, fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	return consume(ctx, cl, ends)
}

// endOffsets returns the end offset of every non-empty partition.
func endOffsets(ctx context.Context, opts []kgo.Opt, topic string) (map[int32]int64, error) {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	listed, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("kafka end offsets of %s: %w", topic, err)
	}
	ends := map[int32]int64{}
	var perr error
	listed.Each(func(l kadm.ListedOffset) {
		switch {
		case errors.Is(l.Err, kerr.UnknownTopicOrPartition):
			// no such topic (yet): nothing to read
		case l.Err != nil && perr == nil:
			perr = fmt.Errorf("kafka end offset of %s/%d: %w", topic, l.Partition, l.Err)
		case l.Offset > 0:
			ends[l.Partition] = l.Offset
		}
	})
	return ends, perr
}

func consume(ctx context.Context, cl *kgo.Client, ends map[int32]int64) (KafkaResult, error) {
	var res KafkaResult
	done := map[int32]bool{}
	for len(done) < len(ends) {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("kafka consume: %d of %d partitions read: %w", len(done), len(ends), err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset >= ends[r.Partition] {
				return
			}
			res.add(r)
			if r.Offset == ends[r.Partition]-1 {
				done[r.Partition] = true
			}
		})
	}
	return res, nil
}

func (res *KafkaResult) add(r *kgo.Record) {
	o, err := decodeValue(r.Value)
	if err != nil {
		res.Undecodable++
		return
	}
	o.Partition, o.Offset, o.Key = r.Partition, r.Offset, string(r.Key)
	for _, h := range r.Headers {
		if h.Key == HeaderID {
			o.ID = string(h.Value)
		}
	}
	res.Observations = append(res.Observations, o)
}
