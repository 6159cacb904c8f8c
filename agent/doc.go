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
// # Lifecycle
//
// Every long-running part is a Component (Run(ctx) error). The agent
// starts them in stages, outputs before inputs, and each stage's start
// (opening, binding, building) completes before the next one begins:
//
//	start ─►  1 spool          open (salvage if damaged)
//	          2 http           /metrics /healthz /readyz /status, spool monitor
//	          3 uplinks        sinks + one forwarder per (sink, stream)
//	          4 mqtt session   the MQTT client shared by 5 and 6
//	          5 downsample     engine + alarm publisher (read-back confirmed)
//	          6 intake         seed duplicate detection, connect, subscribe
//	          7 supervisor     READY=1 once subscribed, WATCHDOG=1 while healthy
//	stop  ◄─  7 … 1            each stage only after every later one returned
//
// All components run in one errgroup: when ctx ends or any component
// fails, STOPPING=1 is sent and the stages stop in reverse. A stage that
// fails to start stops the stages already running the same way, so a
// failed start leaves no goroutine and closes the spool. No goroutine of
// the agent outlives Run. An embedded broker is one more stage, before the
// MQTT session.
//
// The stop order keeps the guarantees: the intake stops taking messages
// and flushes its last group commit, acknowledging what is durable (up to
// 10s); the downsample stops and publishes its pending alarms over the
// still-open session; the session disconnects; the forwarders get a
// bounded drain deadline (uplink.drain_timeout; the drain wakes on each
// cursor move of a forwarder whose link is up), then stop and their sinks
// close; the HTTP endpoint stops; the spool closes last, so nothing runs on
// a closed spool.
//
// # Cursor names
//
// The cursor names on the spool (ConsumerDownsample, "<sink>/raw",
// "<sink>/down") are defined once in cursors.go: the spool is opened with
// the list built there, and each forwarder and the engine is given its name
// from the same functions.
//
// # Reload
//
// Reload applies a new configuration's live settings (uplink.drain_timeout,
// downsample.alarm_retain; the command applies log.level and reopens
// log.file) and returns the changed keys that need a restart.
//
// # Alarms
//
// The alarm publisher subscribes to each alarm's own topic before
// publishing it and waits for its payload to come back: a broker that
// acknowledges but drops the publication (a denying ACL) leaves it
// unconfirmed, counted (edgespool_downsample_alarm_unconfirmed_total,
// edgespool_downsample_alarms_unconfirmed), logged and retried with backoff.
package agent
