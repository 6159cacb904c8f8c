package uplink

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent/model"
	"github.com/edgespool/edgespool/sim/testenv"
	"github.com/edgespool/edgespool/spool"
)

// poisonN is the backlog of the poison benchmark and test.
const poisonN = 100_000

// poisonedInflux returns InfluxDB with databases "healthy" and "poisoned";
// in "poisoned" the field fuel of genData already is a float in the shard
// of the generated readings, so that InfluxDB drops every point the
// forwarder writes (integer fuel) with a field type conflict.
func poisonedInflux(t testing.TB) *testenv.InfluxServer {
	in := testenv.Influx(t)
	in.CreateDB(t, "healthy")
	in.CreateDB(t, "poisoned")
	in.Write(t, "poisoned", fmt.Sprintf("genData,generatorID=other fuel=1.5 %d\n", t0.UnixNano()))
	return in
}

// drainInto drains a fresh spool of n raw readings into db with one
// forwarder and returns the time taken and the forwarder's status.
func drainInto(t testing.TB, in *testenv.InfluxServer, db string, n int) (time.Duration, ForwarderStatus) {
	sp, err := spool.Open(filepath.Join(t.TempDir(), "spool.db"), spool.Options{NoSync: true, MaxBytes: 1 << 30,
		Consumers: map[string][]string{model.StreamRaw: {"influx/raw"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	for done := 0; done < n; done += 10000 {
		if err := sp.Append(context.Background(), rawRecords(min(10000, n-done), 100)); err != nil {
			t.Fatal(err)
		}
	}
	s, err := NewInflux(InfluxOptions{URL: in.URL, Buckets: map[string]string{model.StreamRaw: db}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f, err := NewForwarder(sp, s, ForwarderOptions{Stream: model.StreamRaw})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	began := time.Now()
	go func() { done <- f.Run(ctx) }()
	for deadline := began.Add(2 * time.Minute); ; time.Sleep(2 * time.Millisecond) {
		if seq, _, _ := sp.Cursor("influx/raw", model.StreamRaw); seq >= uint64(n) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not drained in 2 minutes: %+v", f.Status())
		}
	}
	took := time.Since(began)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return took, f.Status()
}

func TestPoisonedInfluxSettledPerRequest(t *testing.T) {
	in := poisonedInflux(t)
	_, st := drainInto(t, in, "poisoned", 20000)
	if st.DeadLetters != 20000 || st.Sent != 0 || st.Dropped != 0 {
		t.Fatalf("status %+v: want every reading dead-lettered", st)
	}
	if got := in.Query(t, "poisoned", "SELECT count(fuel) FROM genData"); len(got) != 1 ||
		len(got[0].Values) != 1 || fmt.Sprint(got[0].Values[0][1]) != "1" {
		t.Fatalf("poisoned database holds %v, want only the float point", got)
	}
}

// BenchmarkPoisonInflux drains 100,000 readings that InfluxDB 1.8 refuses
// every one of (field type conflict) and reports the dead letters moved per
// second; the same run drains them into a healthy database as a baseline.
func BenchmarkPoisonInflux(b *testing.B) {
	in := poisonedInflux(b)
	for i := 0; i < b.N; i++ {
		took, st := drainInto(b, in, "poisoned", poisonN)
		if st.DeadLetters != poisonN {
			b.Fatalf("status %+v", st)
		}
		base, st := drainInto(b, in, "healthy", poisonN)
		if st.Sent != poisonN {
			b.Fatalf("status %+v", st)
		}
		b.ReportMetric(poisonN/took.Seconds(), "deadletters/s")
		b.ReportMetric(poisonN/base.Seconds(), "healthy-readings/s")
	}
}
