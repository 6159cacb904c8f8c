// Package e2e holds the whole-pipeline tests of edgespool: the real
// edgespool binary, built once per test run, between real servers —
// Mosquitto for intake, Kafka (franz-go kfake) and InfluxDB 1.8 behind
// Toxiproxy for the uplinks — fed by the fleet simulator and checked with
// the verifier of sim/verify.
//
//	sim/fleet ─QoS 1─► Mosquitto ─► edgespool (child process, YAML config)
//	                                   │            │
//	                           Toxiproxy kafka0   Toxiproxy influxdb
//	                                   ▼            ▼
//	                                 kfake       influxd 1.8
//	                                   └──── sim/verify ────┘
//
// The tests prove the product's guarantees end to end: every reading the
// broker accepted arrives in Kafka and InfluxDB across link outages and
// SIGKILLs of the agent during a backlog drain, per-generator order holds
// in each Kafka partition, duplicates are replays identifiable by the
// edgespool-id header, the downsampled stream has one point per generator
// and window with the right alarm, /status shows the backlog while a link
// is down, and when a full spool drops readings each sink misses exactly
// the readings the agent counted as dropped for it. BenchmarkLiveLatency measures the end-to-end latency from
// MQTT publish to Kafka and InfluxDB at 20,000 readings/s, and the agent's
// CPU and memory at that rate.
//
// The package has no non-test code besides this comment.
package e2e
