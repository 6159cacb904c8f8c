package uplink

import (
	"github.com/edgespool/edgespool/agent/model"
	"github.com/edgespool/edgespool/spool"
)

// deadLetterRecord returns the spool record that stores d in the
// dead-letter stream (key = d.Key, time = d.At).
func deadLetterRecord(d model.DeadLetter) spool.Record {
	return spool.Record{Stream: model.StreamDeadLetter, Key: d.Key, Time: d.At.UnixNano(), Value: d.Encode()}
}
