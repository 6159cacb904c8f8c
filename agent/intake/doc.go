// Package intake is the MQTT intake of the edgespool agent: it subscribes at
// QoS 1 with a persistent session, decodes each payload (the reference JSON
// or InfluxDB line protocol) into readings, writes them to the spool in group
// commits, and acknowledges each MQTT message only after the spool Append
// that holds it has returned (fsync done).
//
//	paho router goroutine              commit goroutine
//	  handler: decode, encode  ─queue─►  take all queued (≤ CommitMaxRecords)
//	  (blocks when MaxInflight             dedupe redeliveries, seq gaps
//	   messages are unacked)               Append(raw + dead-letter records)
//	                                       PUBACK every message, in order,
//	                                       in one write (see pubacks)
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
