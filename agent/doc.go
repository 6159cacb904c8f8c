// Package agent wires the edgespool daemon: configuration to Options, the
// spool, the MQTT intake, the downsample engine, one uplink forwarder per
// (sink, stream), the HTTP endpoint, and the order of start and stop.
//
//	generators ─MQTT QoS 1─► Mosquitto (persistent session, queue)
//	                              │ manual ack after commit
//	                              ▼
//	                 ┌──────── intake ─────────┐  bad payload
//	                 │ decode JSON / line prot │───────────────┐
//	                 └────────────┬────────────┘               │
//	                              ▼ group commit (fsync)       ▼
//	 ┌──────────────────────── spool (one bbolt file) ───────────────────┐
//	 │  raw                    downsampled              deadletter       │
//	 └───┬────────────┬──────────────▲──────┬──────────────┬─────────────┘
//	     │ cursor     │ cursors      │      │ cursors      │
//	     │ downsample │ kafka/raw    │      │ kafka/down   │
//	     ▼            │ influx/raw   │      │ influx/down  │
//	 downsample ──────┼──────────────┘      │              │
//	 engine ─► alarms (retained MQTT)       ▼              ▼
//	                  └──► forwarders ─► Kafka, InfluxDB (each on its own
//	                                      cursor, goroutine and link state)
//
// Start order is outputs first: spool, HTTP, forwarders, downsample, then
// the intake. Stop order is inputs first: the intake stops taking messages
// and flushes its pending commit (acknowledging what is durable), the
// downsample stops, forwarders get a bounded drain deadline, then the spool
// closes.
package agent
