// Package downsample holds the data model shared by every part of edgespool
// (a generator Reading, a downsampled Point, their compact binary encodings
// and the names of the spool streams) and the edge downsample itself: the
// reference Flux task "kafka_downsample" recomputed per generator on event
// time in aligned windows, with local alarms.
//
// The window and alarm logic is pure and deterministic: no I/O, no
// goroutines, no wall clock except the one injected by the caller. The Engine
// consumes the raw spool stream through its own cursor and appends finished
// windows to the downsampled stream in the same transaction that advances
// that cursor, so each (generator, window) is produced exactly once.
package downsample
