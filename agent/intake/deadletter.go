package intake

import (
	"fmt"
	"time"

	"github.com/edgespool/edgespool/agent/model"
)

// maxDeadPayload bounds the payload bytes kept in a dead-letter record.
const maxDeadPayload = 4096

// deadRecord builds the dead-letter spool record (model.DeadLetter, source
// "mqtt", Class = the rejection reason) for a rejected message.
func deadRecord(topic string, payload []byte, de *DecodeError, now time.Time) Record {
	dl := model.DeadLetter{Source: "mqtt", Reason: de.Error(), Class: de.Reason, Topic: topic,
		Key: string(topicID(topic)), Time: now.UnixNano(), At: now.UTC(), Payload: payload}
	if len(payload) > maxDeadPayload {
		dl.Payload = payload[:maxDeadPayload]
		dl.Reason += fmt.Sprintf(" (payload truncated to %d of %d bytes)", maxDeadPayload, len(payload))
	}
	return Record{Stream: model.StreamDeadLetter, Key: dl.Key, Time: dl.At.UnixNano(), Value: dl.Encode()}
}
