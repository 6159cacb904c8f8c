// Package model is the data model shared by every part of edgespool: a
// generator Reading, a downsampled Point, a DeadLetter, their encodings as
// spool record values, the names of the spool streams, the InfluxDB
// measurement, and the event-time age helpers of the delay histograms.
//
// It imports nothing of edgespool's own, so that the intake, the
// downsample, the uplink and the simulator share it without depending on
// each other.
package model
