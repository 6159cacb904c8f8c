// Package testenv starts the real servers that edgespool's tests talk to —
// Mosquitto, InfluxDB 1.8, a Kafka wire-protocol cluster (franz-go kfake)
// and Toxiproxy — each on free loopback ports, and stops them by PID when
// the test ends.
//
// Server binaries are looked up first in $EDGESPOOL_TOOLS/bin (default
// /opt/edgespool-tools/bin, filled by .ci/setup), then on PATH. When a
// binary is missing the test is skipped, unless EDGESPOOL_REQUIRE_SERVICES
// is set (as the project's test command does), in which case it fails: a
// suite that silently skips its real-server tests proves nothing.
package testenv
