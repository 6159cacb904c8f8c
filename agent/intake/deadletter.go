package intake

import (
	"encoding/json"
	"time"

	"github.com/edgespool/edgespool/downsample"
)

// maxDeadPayload bounds the payload bytes kept in a dead-letter record.
const maxDeadPayload = 4096

// DeadLetter is the JSON value of a dead-letter record written by the
// intake for a rejected MQTT message.
type DeadLetter struct {
	Source    string    `json:"source"` // "mqtt"
	Reason    string    `json:"reason"` // one of the Reason constants
	Detail    string    `json:"detail"`
	Topic     string    `json:"topic"`
	Received  time.Time `json:"received"`
	Size      int       `json:"size"`    // payload size in bytes
	Payload   []byte    `json:"payload"` // base64 in JSON; at most 4 KiB
	Truncated bool      `json:"truncated,omitempty"`
}

// deadRecord builds the dead-letter spool record for a rejected message.
func deadRecord(topic string, payload []byte, de *DecodeError, now time.Time) Record {
	dl := DeadLetter{Source: "mqtt", Reason: de.Reason, Detail: de.Detail, Topic: topic,
		Received: now.UTC(), Size: len(payload), Payload: payload}
	if len(payload) > maxDeadPayload {
		dl.Payload, dl.Truncated = payload[:maxDeadPayload], true
	}
	v, err := json.Marshal(dl)
	if err != nil { // cannot happen for these field types
		v = []byte(`{"source":"mqtt","reason":"` + de.Reason + `"}`)
	}
	return Record{Stream: downsample.StreamDeadLetter, Key: string(topicID(topic)), Time: now.UnixNano(), Value: v}
}
