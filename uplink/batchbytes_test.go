package uplink

import (
	"strings"
	"sync"
	"testing"

	"github.com/edgespool/edgespool/agent/model"
	"github.com/edgespool/edgespool/spool"
)

// sizedRecords returns n raw readings whose generator ids run from 1 to
// 200 characters and back, so that payload sizes vary several-fold, with
// every 97th record's id model.MaxIDLen long.
func sizedRecords(n int) []spool.Record {
	recs := make([]spool.Record, n)
	for k := range recs {
		r := reading(0, k)
		size := 1 + (k*7)%200
		if k%97 == 0 {
			size = model.MaxIDLen
		}
		r.GeneratorID = strings.Repeat(string(rune('a'+k%26)), size)
		recs[k] = spool.Record{Stream: model.StreamRaw, Key: r.GeneratorID, Time: r.Time, Value: model.AppendReading(nil, r)}
	}
	return recs
}

// TestForwarderBatchWithinByteBound: no Send carries more than BatchBytes
// of payload unless it is a single record larger than the bound, batches
// still fill to the bound (not one record at a time), and everything
// arrives in order.
func TestForwarderBatchWithinByteBound(t *testing.T) {
	const bound = 4096
	recs := sizedRecords(3000)
	total := 0
	for _, r := range recs {
		total += len(r.Value)
	}
	l := newMemLog()
	appendRecs(t, l, recs)
	var mu sync.Mutex
	var sizes []int
	s := &memSink{name: "mem", fail: func(msgs []Message) error {
		mu.Lock()
		defer mu.Unlock()
		sizes = append(sizes, payloadBytes(msgs))
		if n := payloadBytes(msgs); n > bound && len(msgs) > 1 {
			t.Errorf("a send of %d records carries %d payload bytes, bound %d", len(msgs), n, bound)
		}
		return nil
	}}
	f := newFwd(t, l, s, ForwarderOptions{BatchRecords: 5000, BatchBytes: bound})
	stop := start(t, f)
	waitFor(t, "drain", func() bool { return l.cursor("mem/raw", "raw") == uint64(len(recs)) })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	checkSpoolOrder(t, s.received(), l.records("raw"))
	mu.Lock()
	defer mu.Unlock()
	if full := total / bound; len(sizes) > 2*full+1 {
		t.Fatalf("%d sends for %d payload bytes: batches far below the %d-byte bound", len(sizes), total, bound)
	}
}

// TestForwarderOversizedRecordGoesAlone: a record larger than BatchBytes
// is still sent, alone.
func TestForwarderOversizedRecordGoesAlone(t *testing.T) {
	recs := sizedRecords(300)
	bound := len(recs[0].Value) - 1 // records[0] has the longest id
	l := newMemLog()
	appendRecs(t, l, recs)
	var mu sync.Mutex
	var first []int
	s := &memSink{name: "mem", fail: func(msgs []Message) error {
		mu.Lock()
		defer mu.Unlock()
		first = append(first, len(msgs))
		return nil
	}}
	f := newFwd(t, l, s, ForwarderOptions{BatchBytes: bound})
	start(t, f)
	waitFor(t, "drain", func() bool { return l.cursor("mem/raw", "raw") == uint64(len(recs)) })
	mu.Lock()
	defer mu.Unlock()
	if len(first) == 0 || first[0] != 1 {
		t.Fatalf("sends %v: want the oversized first record alone", first)
	}
	if len(first) >= len(recs) {
		t.Fatalf("%d sends for %d records: the others were not batched", len(first), len(recs))
	}
}
