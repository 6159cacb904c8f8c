// Package demo runs the offline-resilience story in one process, with no
// outside service: an in-process MQTT broker (mochi-mqtt), an in-process
// Kafka (franz-go kfake) behind a cuttable link (linkcut), InfluxDB 1.8
// behind another when an influxd binary is at hand, the simulated fleet, an
// uplink cut in the middle of the run, the drain after it, and the
// verifier's verdict.
//
// The agent itself is not imported here: the caller passes a StartFunc that
// starts it against the Env the demo provides (the command package wires
// the real agent), so this package only depends on the simulator side.
package demo
