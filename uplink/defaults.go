package uplink

import "github.com/segmentio/kafka-go/sasl"

// WithDefaults returns o with every zero field set to its default, as
// NewKafka applies them. The agent's configuration takes its defaults from
// here, so that the library and the configuration file cannot disagree.
func (o KafkaOptions) WithDefaults() KafkaOptions { return kafkaDefaults(o) }

// WithDefaults returns o with every zero field set to its default, as
// NewInflux applies them.
func (o InfluxOptions) WithDefaults() InfluxOptions { return influxDefaults(o) }

// WithDefaults returns o with every zero field set to its default, as a
// forwarder applies them.
func (o BackoffOptions) WithDefaults() BackoffOptions { return o.withDefaults() }

// KafkaMechanism returns the kafka-go SASL mechanism of o (nil for none), as
// the Kafka sink uses it; for connection checks outside the sink.
func (o SASLOptions) KafkaMechanism() (sasl.Mechanism, error) { return o.mechanism() }

// DefaultBatchBytes is ForwarderOptions.BatchBytes' default, in spooled
// payload bytes. Encoded for Kafka (JSON values, identity headers,
// kafka-go's messages) a batch takes over ten times that; in line protocol
// with its gzip body, a few times. It bounds the memory of a backlog
// drain; live batches are far smaller.
const DefaultBatchBytes = 128 << 10
