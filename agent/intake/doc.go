// Package intake is the MQTT intake of the edgespool agent: it subscribes at
// QoS 1 with a persistent session, decodes each payload (the reference JSON
// or InfluxDB line protocol) into readings, writes them to the spool in group
// commits, and acknowledges each MQTT message only after the spool Append
// that holds it has returned (fsync done).
//
//	paho router goroutine              commit goroutine
//	  handler: take a slot,    ─queue─►  take all queued (≤ CommitMaxRecords)
//	  decode, encode                       dedupe redeliveries, seq gaps
//	  (blocks while all                    Append(raw + dead-letter records)
//	   MaxInflight slots are               PUBACK every message, in order,
//	   taken)                              in one write (see pahoack); free
//	                                       the slots
//
// A message holds a slot from the moment the handler accepts it until its
// acknowledgement is written, so the messages of the commit in progress
// and those queued behind it together never exceed MaxInflight (the
// edgespool_intake_inflight_messages gauge).
//
// NewLocal makes an intake without a subscription, for the agent's
// embedded broker: its connections hand each PUBLISH to Submit (which
// takes a slot like the handler) and get Ack, or AckRejected for a
// dead-lettered payload (RejectAcker), after the commit.
//
// Rejected payloads are logged at debug level (reason, topic, err) and
// summed in one warning, "payloads rejected", at most every 30 seconds.
// Every time the intake records (state changes, rate limits) comes from
// Options.Clock, which also waits the retry delays.
//
// Messages are handled in arrival order (paho OrderMatters), so per-device
// order in the spool equals the broker's delivery order. A payload is
// accepted whole or rejected whole: a rejected one is written to the
// dead-letter stream with its reason and acknowledged like any other.
//
// Duplicates: a message the broker redelivers (DUP flag set) whose
// (generator, seq) is already in the spool is acknowledged and not stored
// again. The set of recent sequence numbers per generator is rebuilt from the
// tail of the raw stream at start (Seed), so a crash between commit and
// acknowledgement does not double a reading. Readings without seq cannot be
// told apart and are stored as delivered.
package intake
