package model

// DelayBuckets are the bounds, in seconds, of the event-time delay
// histograms (intake and uplink): milliseconds on a live link up to a day
// of backlog after an outage.
var DelayBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
	60, 300, 900, 3600, 4 * 3600, 24 * 3600}

// AgeSeconds is now - event (Unix nanoseconds) in seconds, for the delay
// histograms: 0 for an event time in the future (a device clock ahead of
// the gateway's).
func AgeSeconds(now, event int64) float64 { return float64(max(0, now-event)) / 1e9 }
