// Package uplink moves the spooled streams to the cloud sinks: Kafka and
// InfluxDB. It is the store-and-forward half of edgespool.
//
//	spool stream ──► Forwarder (one per sink and stream, own durable cursor)
//	                   │ read a batch after the cursor, in spool order
//	                   │ rate limit (optional bytes/s per sink)
//	                   ▼
//	                 Sink.Send ── ok ──────────────► Ack(cursor = last seq)
//	                   │
//	                   ├─ Retryable / Throttled ──► backoff (capped, jittered,
//	                   │                            Retry-After honoured), same batch;
//	                   │                            cut short by a TCP probe that
//	                   │                            connects again (link back)
//	                   ├─ Rejected (server named ─► dead-letter stream at once,
//	                   │   the refused records)     one log line per batch
//	                   └─ Permanent / TooLarge ───► split in halves down to the
//	                                                single bad record, which goes
//	                                                to the dead-letter stream
//
// A Sink is one destination (a Kafka cluster, an InfluxDB server) that
// accepts batches of Messages of any configured stream and reports failures
// as an *Error of one Class. Every forwarder of a sink shares one Link, which
// tracks the link state (up, retrying, down), logs each change once, and
// lets the downsampled stream drain before the raw backlog after an outage.
//
// Guarantees: at-least-once delivery (the cursor advances only after the
// sink confirmed the whole batch); per-generator order (a single batch in
// flight per forwarder, batches in spool order, Kafka key = generatorID with
// the Java-compatible murmur2 partitioner); no silent loss (dead letters and
// records the spool skipped are counted and logged). Kafka forwarders store
// the sink's partition offsets beside the cursor and, on start, skip the
// records a crashed run had written after it (Deduper), so a crash does not
// duplicate records in Kafka.
package uplink
