package model

import (
	"encoding/json"
	"fmt"
	"time"
)

// DeadLetter is the value of a record in the dead-letter stream
// (StreamDeadLetter), JSON encoded: input that was rejected for good, kept
// with the reason so that an operator can inspect or replay it. Forwarders
// write one for every record a sink rejects permanently; the MQTT intake
// writes one for every payload it cannot decode.
type DeadLetter struct {
	// Source is who rejected the input: a sink name ("kafka", "influx")
	// or the intake ("mqtt").
	Source string `json:"source"`
	// Reason is the error text; Class its class when a sink rejected it.
	Reason string `json:"reason"`
	Class  string `json:"class,omitempty"`
	// Stream and Seq locate the rejected record in the spool (forwarders).
	Stream string `json:"stream,omitempty"`
	Seq    uint64 `json:"seq,omitempty"`
	// Topic is the MQTT topic of a rejected payload (intake).
	Topic string `json:"topic,omitempty"`
	// Key is the generatorID, when known; Time the event (or receive) time
	// in Unix nanoseconds.
	Key  string `json:"key,omitempty"`
	Time int64  `json:"time,omitempty"`
	// At is when the input was dead-lettered.
	At time.Time `json:"at"`
	// Payload is the rejected bytes as they were (base64 in JSON).
	Payload []byte `json:"payload"`
}

// Encode returns the JSON encoding of d, the value of its spool record.
func (d DeadLetter) Encode() []byte {
	v, err := json.Marshal(d)
	if err != nil { // cannot happen: every field marshals
		v = fmt.Appendf(nil, `{"source":%q,"reason":"marshal: %v"}`, d.Source, err)
	}
	return v
}

// DecodeDeadLetter decodes the value of a dead-letter record.
func DecodeDeadLetter(b []byte) (DeadLetter, error) {
	var d DeadLetter
	if err := json.Unmarshal(b, &d); err != nil {
		return d, fmt.Errorf("dead letter: %w", err)
	}
	return d, nil
}
