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
// the agent outlives Run.
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
// # Broker mode
//
// With broker.listen the agent is the site's MQTT broker (package
// broker): the MQTT session is replaced by the embedded broker, and its
// listeners are a stage of their own after the intake:
//
//	start ─►  1 spool, 2 http, 3 uplinks   as above
//	          4 broker           local intake + broker: retained messages
//	                             restored, listeners bound, no device accepted
//	          5 downsample       alarms through the broker's inline client
//	          6 intake           seed, commit loop running
//	          7 broker listeners accept devices; READY=1 from here on
//	          8 supervisor
//	stop  ◄─  8 … 1
//
// Inputs come after what commits them: a device is accepted only once the
// intake's commit loop runs (it starts in stage 6's start, before stage
// 7), so every PUBLISH it sends can be committed and acknowledged. At stop
// the listeners stage closes the listeners and refuses further PUBLISHes
// (not acknowledged: the device sends them again after it reconnects)
// before the intake drains; the intake then commits what it holds and
// hands each message its Ack; the downsample publishes its pending alarms
// through the still-running broker; the broker stage writes the last
// PUBACKs, disconnects the devices and saves the retained messages; then
// the uplinks and the spool stop as in subscribe mode. Ready (and READY=1)
// means the spool is open, the intake runs and the broker listens.
//
// A device connection's goroutine submits each PUBLISH to the intake
// (intake.Intake.Submit) after taking a slot of its connection's window
// (broker.receive_maximum), and Submit takes one of the intake's slots
// (max(spool.commit_max_records, 4096) across all devices), blocking while
// they are all taken. This cannot deadlock: the commit goroutine frees the
// intake's slots after handing each message to its connection's writer,
// which never waits for a connection's reader, and the writer frees the
// window slots after writing the PUBACKs; Drain and StopAccepting release
// any Submit or window wait still blocked.
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
// In broker mode the subscription is an inline one on the embedded broker
// (broker.Broker.Watch): the payload comes back once the broker has routed
// the publication to its subscribers and its retained store.
package agent
