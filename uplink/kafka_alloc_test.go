package uplink

import (
	"context"
	"runtime"
	"testing"

	"github.com/edgespool/edgespool/sim/testenv"
)

func TestWriterTiers(t *testing.T) {
	for _, tc := range []struct {
		records int
		want    []int
	}{
		{1, []int{1}}, {64, []int{64}}, {65, []int{64, 65}}, {5000, []int{64, 512, 4096, 5000}},
		{10000, []int{64, 512, 4096, 10000}}, {100000, []int{64, 512, 4096, 32768, 100000}},
	} {
		got := writerTiers(tc.records)
		if len(got) != len(tc.want) {
			t.Fatalf("writerTiers(%d) = %v, want %v", tc.records, got, tc.want)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Fatalf("writerTiers(%d) = %v, want %v", tc.records, got, tc.want)
			}
		}
	}
	k, err := NewKafka(KafkaOptions{Brokers: []string{"127.0.0.1:9"}, BatchRecords: 10000})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	for n, want := range map[int]int{1: 64, 64: 64, 65: 512, 4096: 4096, 4097: 10000, 10000: 10000} {
		if got := k.writerFor(n).BatchSize; got != want {
			t.Errorf("writerFor(%d).BatchSize = %d, want %d", n, got, want)
		}
	}
}

// A live Send of a few readings must not cost what a backlog batch does:
// kafka-go sizes each partition batch by the writer's BatchSize.
func TestKafkaSmallSendAllocatesLittle(t *testing.T) {
	k := testenv.Kafka(t)
	kafkaTopics(t, k, nil)
	s, err := NewKafka(KafkaOptions{Brokers: k.Addrs, BatchRecords: 10000, Compression: "none"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	msgs := make([]Message, 12)
	for i, r := range rawRecords(len(msgs), 6) { // 6 generators: every partition gets records
		r.Seq = uint64(i + 1)
		msgs[i] = Message(r)
	}
	ctx := context.Background()
	if err := s.Send(ctx, msgs); err != nil { // connect, metadata
		t.Fatal(err)
	}
	const sends = 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range sends {
		if err := s.Send(ctx, msgs); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	// The whole process (kfake included) allocates; one 10,000-message
	// partition batch alone would be 1.5 MB. No compression: the race
	// detector makes sync.Pool drop pooled lz4 buffers (megabytes).
	if per := (after.TotalAlloc - before.TotalAlloc) / sends; per > 512<<10 {
		t.Fatalf("a Send of %d readings allocated %d KiB (process-wide)", len(msgs), per>>10)
	} else {
		t.Logf("a Send of %d readings allocated %d KiB (process-wide)", len(msgs), per>>10)
	}
}
