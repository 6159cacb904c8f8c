// Package servers holds the pieces shared by the code that starts real
// servers for the simulator: the demo (sim/demo) and the test environment
// (sim/testenv). It renders the influxd 1.8 configuration and provides a
// listener that advertises another address than its own, so that an
// in-process Kafka broker can advertise the port of a proxy in front of it.
//
// The package does not depend on testing; errors are returned to the caller.
package servers
