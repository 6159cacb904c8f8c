package model

import "time"

// Names of the spool streams. Lower priority streams are dropped first when
// the spool reaches its byte cap.
const (
	StreamRaw         = "raw"         // every accepted reading, as Reading
	StreamDownsampled = "downsampled" // one Point per generator per window
	StreamDeadLetter  = "deadletter"  // rejected input and records sinks refused
)

// Measurement is the InfluxDB measurement of both the raw and the
// downsampled series (the reference pipeline).
const Measurement = "genData"

// Reading is one sample of one emergency generator, as published on MQTT.
// Integer fields stay integers end to end (InfluxDB fixes a field's type).
type Reading struct {
	GeneratorID string
	// Time is the event time in Unix nanoseconds: the payload's own time, or
	// the agent's receive time when the payload had none (see Stamped).
	Time int64
	// Seq is the publisher's per-device sequence number; 0 means absent.
	Seq uint64
	// Stamped is true when Time is the agent's receive time.
	Stamped bool

	Lat, Lon    float64
	Temperature int64
	Power       int64
	Load        int64
	Fuel        int64
}

// EventTime returns Time as a time.Time in UTC.
func (r Reading) EventTime() time.Time { return time.Unix(0, r.Time).UTC() }

// Point is the downsampled output for one generator and one window: the
// latest reading of the window with its alarm label and region tag. Its time
// is the reading's own time (Reading.Time), as in the reference task.
type Point struct {
	Reading
	// Window is the start of the window, Unix nanoseconds.
	Window int64
	// Alarm is the alarm label, "refuel" or "no action" by default.
	Alarm string
	// Region is the constant region tag ("US" by default).
	Region string
}
