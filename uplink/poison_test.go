package uplink

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/edgespool/edgespool/agent/model"
	"github.com/segmentio/kafka-go"
)

// fieldConflict is InfluxDB 1.8's answer to points of the wrong field type,
// without the count of dropped points.
const fieldConflict = `partial write: field type conflict: input field "fuel" on measurement "genData" is type integer, already exists as type float dropped=`

func TestInfluxRequestDroppedWholeIsRejected(t *testing.T) {
	msgs := rawMessages(3000) // two requests of 1500 points
	rec := &writeRecorder{dropAll: true, fail: failHolding(msgs[2000], http.StatusBadRequest, 0)}
	err := sendVia(t, rec, InfluxOptions{Parallel: 2}, msgs)
	rejected, failed, ok := RejectedOf(err)
	if !ok || len(failed) != 0 || len(rejected) != 1500 || rejected[0] != 1500 || rejected[1499] != 2999 {
		t.Fatalf("Send = %v: rejected %d, failed %v; want points 1500-2999 rejected, none failed",
			err, len(rejected), failed)
	}
	if !strings.Contains(err.Error(), "field type conflict") {
		t.Errorf("the reason lost the server's message: %v", err)
	}
}

func TestInfluxRejectionWithOtherFailureResendsTheOthers(t *testing.T) {
	msgs := rawMessages(3000)
	rec := &writeRecorder{dropAll: true, fail: failHolding(msgs[100], http.StatusBadRequest, http.StatusInternalServerError)}
	err := sendVia(t, rec, InfluxOptions{Parallel: 1, BatchPoints: 1000}, msgs)
	rejected, failed, ok := RejectedOf(err)
	if !ok || len(rejected) != 1000 || len(failed) != 2000 || failed[0] != 1000 || ClassOf(err) != ClassRetryable {
		t.Fatalf("Send = %v (class %v): %d rejected, %d failed; want 1000 rejected, 2000 to retry",
			err, ClassOf(err), len(rejected), len(failed))
	}
}

func TestKafkaInvalidRecordsRejectedWhole(t *testing.T) {
	we := kafka.WriteErrors{nil, kafka.InvalidRecord, kafka.InvalidRecord, kafka.LeaderNotAvailable, nil}
	err := withFailed(classifyWriteErrors(we), 2, 7, 9)
	rejected, failed, ok := RejectedOf(err)
	if !ok || !equalInts(rejected, []int{3, 4}) || !equalInts(failed, []int{5, 7, 8}) || ClassOf(err) != ClassRetryable {
		t.Fatalf("rejected %v failed %v class %v (%v)", rejected, failed, ClassOf(err), err)
	}
	if !errors.Is(err, kafka.InvalidRecord) {
		t.Errorf("the reason lost the broker's error: %v", err)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// rejectAll refuses every batch as a whole, saying so.
func rejectAll(msgs []Message) error {
	return &Error{Class: ClassPermanent, Index: -1, Rejected: appendRange(nil, 0, len(msgs)), Failed: []int{},
		Err: errors.New(fieldConflict + strconv.Itoa(len(msgs)))}
}

func TestForwarderSettlesARejectedBatchInOneSend(t *testing.T) {
	l := newMemLog()
	appendRecs(t, l, rawRecords(1000, 5))
	s := &memSink{name: "mem", fail: rejectAll}
	var logs syncBuffer
	f := newFwd(t, l, s, ForwarderOptions{BatchRecords: 250, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	stop := start(t, f)
	waitFor(t, "drain", func() bool { return l.cursor("mem/raw", "raw") == 1000 })
	stop()
	dl := l.records(model.StreamDeadLetter)
	if len(dl) != 1000 || s.sends != 4 {
		t.Fatalf("%d dead letters in %d sends, want 1000 in 4", len(dl), s.sends)
	}
	for i, r := range dl {
		d, err := model.DecodeDeadLetter(r.Value)
		if err != nil || d.Seq != uint64(i+1) || d.Class != "permanent" || !strings.Contains(d.Reason, "field type conflict") {
			t.Fatalf("dead letter %d: %+v %v", i, d, err)
		}
	}
	if n := strings.Count(logs.String(), "moved_to=deadletter"); n != 4 {
		t.Errorf("%d dead-letter log lines, want one per batch (4):\n%s", n, logs.String())
	}
	if st := f.Status(); st.DeadLetters != 1000 || st.Sent != 0 {
		t.Errorf("status %+v", st)
	}
}

func TestForwarderIsolatedRecordsLoggedOncePerBatch(t *testing.T) {
	l := newMemLog()
	appendRecs(t, l, rawRecords(100, 5))
	s := &memSink{name: "mem", fail: rejectSeqs(ClassPermanent, false, 3, 40, 41, 90)}
	var logs syncBuffer
	f := newFwd(t, l, s, ForwarderOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	stop := start(t, f)
	waitFor(t, "drain", func() bool { return l.cursor("mem/raw", "raw") == 100 })
	stop()
	if n := len(l.records(model.StreamDeadLetter)); n != 4 {
		t.Fatalf("%d dead letters, want 4", n)
	}
	if n := strings.Count(logs.String(), "records=4 first_seq=3 last_seq=90"); n != 1 {
		t.Errorf("want one line for the 4 isolated records:\n%s", logs.String())
	}
}
