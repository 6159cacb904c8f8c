// Package downsample is the edge downsample: the reference Flux task
// "kafka_downsample" recomputed per generator on event time in aligned
// windows, with local alarms, over the readings of package model.
//
// The window and alarm logic (Windower) is pure and deterministic: no I/O,
// no goroutines, no wall clock except the one injected by the caller. The
// Engine consumes the raw spool stream through its own cursor and appends
// finished windows to the downsampled stream in the same transaction that
// advances that cursor, so each (generator, window) is produced exactly once.
//
// # Semantics
//
//   - Windows are [k·Window, (k+1)·Window) of event time (model.Reading.Time),
//     per generator; Window is one minute by default.
//   - A window's point is its reading with the greatest event time, all
//     fields; on equal times the reading that arrived later (higher raw
//     sequence number) wins, as the later write does in InfluxDB. The
//     point's time is that reading's own time; model.Point.Window is the start.
//   - Alarm: the label of the first rule that matches the point's reading,
//     else the default label; by default "refuel" when fuel < 500 (strict:
//     500 is "no action", negative fuel is "refuel"). Region: a constant tag,
//     "US" by default. A generator without readings in a window emits nothing.
//   - A window closes when its generator's event time passes its end plus
//     Lateness (a reading with time > end + Lateness arrives), or by wall
//     clock when the generator is silent: no reading of it for IdleGrace and
//     the clock past end + Lateness + IdleGrace. The clock is only applied
//     once every reading that has arrived has been processed, never while a
//     backlog is replayed, and not while EngineOptions.InputLive reports the
//     input down, nor for IdleGrace after it is back.
//   - A reading whose window has closed is late: counted
//     (edgespool_downsample_late_readings_total), kept in the raw stream like
//     any reading, never emitted, and it does not reopen the window, so a
//     window is emitted once even if a late reading would have changed it.
//   - Readings older than the retention (24h by default) are late for every
//     generator; readings more than MaxFuture (1h) ahead of the wall clock
//     are ignored and counted, so one bad device clock cannot close a
//     generator's windows for years.
//
// # Exactly once
//
// The Engine commits the points of each step, its cursor and its state in
// one spool transaction. The cursor stops just before the oldest raw record
// that an open window still holds (a window needs only its latest reading);
// the state (the cursor's meta blob) holds per generator the frontier below
// which its windows are closed. After a crash the Engine restores the
// frontiers and re-reads from the cursor: the open windows are rebuilt
// exactly, and readings of windows emitted before the crash fall below a
// frontier and are skipped. No other state exists.
package downsample
