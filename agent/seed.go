package agent

import (
	"github.com/edgespool/edgespool/agent/intake"
	"github.com/edgespool/edgespool/agent/model"
	"github.com/edgespool/edgespool/spool"
)

// seedTail is how many of the newest raw records rebuild the intake's
// duplicate detection at start: more than a broker can redeliver. The
// spool keeps them after delivery (spool.Options.KeepDelivered): a
// reading forwarded to every sink before its MQTT acknowledgement
// reached the broker is still recognised when the broker redelivers it
// after a crash.
const seedTail = 65536

// seedIntake feeds the newest raw readings to the intake so that messages
// redelivered after a crash (committed but not acknowledged) are recognised.
func seedIntake(sp *spool.Spool, in *intake.Intake) (int, error) {
	st := sp.Stats().Streams[model.StreamRaw]
	if st.Records == 0 {
		return 0, nil
	}
	after := uint64(0)
	if st.LastSeq > seedTail {
		after = st.LastSeq - seedTail
	}
	n := 0
	for {
		b, err := sp.ReadAfter(model.StreamRaw, after, 4096)
		if err != nil {
			return n, err
		}
		if len(b.Records) == 0 {
			return n, nil
		}
		for _, rec := range b.Records {
			if r, err := model.DecodeReading(rec.Value); err == nil {
				in.Seed(r)
				n++
			}
		}
		after = b.Records[len(b.Records)-1].Seq
	}
}
