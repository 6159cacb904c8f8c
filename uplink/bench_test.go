package uplink

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent/model"

	"github.com/edgespool/edgespool/sim/testenv"
	"github.com/edgespool/edgespool/spool"
	"github.com/influxdata/line-protocol/v2/lineprotocol"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Backlog drain benchmarks. Each drains a spool backlog of
// EDGESPOOL_BENCH_N raw readings (default 1,000,000, of 100 generators)
// through one forwarder into a real server, and reports readings/s. Run
// with -benchtime=1x: one iteration is the whole backlog. The Baseline
// benchmarks send the same data with a plain bulk client (pre-encoded, no
// spool), to show what the server itself takes.

const benchConsumers = 16 // backlogs per sink: one per benchmark iteration

var (
	benchOnce  sync.Once
	benchSpool *spool.Spool
	benchDir   string
	benchErr   error
	benchIter  = map[string]*atomic.Int32{"kafka": {}, "influx": {}}
)

func benchN() int {
	if n, err := strconv.Atoi(os.Getenv("EDGESPOOL_BENCH_N")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

// backlog returns the shared spool holding the backlog, generating it on
// first use.
func backlog(b *testing.B) *spool.Spool {
	b.Helper()
	benchOnce.Do(func() {
		benchDir, benchErr = os.MkdirTemp("", "uplink-bench-")
		if benchErr != nil {
			return
		}
		var names []string
		for i := 0; i < benchConsumers; i++ {
			names = append(names, fmt.Sprintf("kafka/raw%d", i), fmt.Sprintf("influx/raw%d", i))
		}
		benchSpool, benchErr = spool.Open(filepath.Join(benchDir, "spool.db"), spool.Options{NoSync: true,
			MaxBytes: 4 << 30, Consumers: map[string][]string{model.StreamRaw: names}})
		if benchErr != nil {
			return
		}
		n := benchN()
		for done := 0; done < n && benchErr == nil; done += 10000 {
			benchErr = benchSpool.Append(context.Background(), rawRecords(min(10000, n-done), 100))
		}
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchSpool
}

// freshConsumer returns a consumer of sink that has not read the backlog.
func freshConsumer(b *testing.B, sink string) string {
	b.Helper()
	i := benchIter[sink].Add(1) - 1
	if i >= benchConsumers {
		b.Fatalf("more than %d iterations: run with -benchtime=1x", benchConsumers)
	}
	return fmt.Sprintf("%s/raw%d", sink, i)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchSpool != nil {
		benchSpool.Close()
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

// drain runs one forwarder of sink over the backlog until its cursor
// reaches the end, timing only that.
func drain(b *testing.B, sinkName string, sink Sink) {
	b.Helper()
	b.ReportAllocs()
	n := benchN()
	for i := 0; i < b.N; i++ {
		sp, consumer := backlog(b), freshConsumer(b, sinkName)
		last := sp.Stats().Streams[model.StreamRaw].LastSeq
		f, err := NewForwarder(sp, sink, ForwarderOptions{Stream: model.StreamRaw, Consumer: consumer})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		b.StartTimer()
		began := time.Now()
		go func() { done <- f.Run(ctx) }()
		for {
			if seq, _, _ := sp.Cursor(consumer, model.StreamRaw); seq >= last {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		took := time.Since(began)
		b.StopTimer()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		if st := f.Status(); st.Sent != uint64(n) {
			b.Fatalf("sent %d of %d: %+v", st.Sent, n, st)
		}
		b.ReportMetric(float64(n)/took.Seconds(), "readings/s")
	}
}

func benchKafka(b *testing.B) *testenv.KafkaCluster {
	k := testenv.Kafka(b)
	if _, err := kadm.NewClient(k.Client(b)).CreateTopics(context.Background(), 3, 1, nil, DefaultRawTopic); err != nil {
		b.Fatal(err)
	}
	return k
}

func BenchmarkDrainKafka(b *testing.B) {
	b.StopTimer()
	backlog(b) // generate before starting servers
	k := benchKafka(b)
	s, err := NewKafka(KafkaOptions{Brokers: k.Addrs})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	drain(b, "kafka", s)
}

func BenchmarkDrainInflux(b *testing.B) {
	b.StopTimer()
	backlog(b)
	in := testenv.Influx(b)
	in.CreateDB(b, DefaultRawBucket)
	s, err := NewInflux(InfluxOptions{URL: in.URL, BatchPoints: benchLines()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	drain(b, "influx", s)
}

// BenchmarkBaselineKafkaKgo produces the same records (pre-encoded JSON,
// key, identity headers) with franz-go's pipelined producer, lz4, acks=all.
func BenchmarkBaselineKafkaKgo(b *testing.B) {
	b.StopTimer()
	n := benchN()
	recs := make([]*kgo.Record, 0, n)
	for _, r := range rawRecords(n, 100) {
		it, _ := decode(Message(r))
		recs = append(recs, &kgo.Record{Key: []byte(it.GeneratorID), Value: appendJSON(nil, it), Headers: []kgo.RecordHeader{
			{Key: HeaderID, Value: appendIdentity(nil, it)}, {Key: HeaderStream, Value: []byte(model.StreamRaw)}}})
	}
	k := benchKafka(b)
	cl := k.Client(b, kgo.DefaultProduceTopic(DefaultRawTopic), kgo.ProducerBatchCompression(kgo.Lz4Compression()),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.MaxBufferedRecords(100_000), kgo.ProducerBatchMaxBytes(1<<20))
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		var failed atomic.Int64
		b.StartTimer()
		began := time.Now()
		for _, r := range recs {
			wg.Add(1)
			r.Partition, r.Offset = 0, 0
			cl.Produce(context.Background(), r, func(_ *kgo.Record, err error) {
				if err != nil {
					failed.Add(1)
				}
				wg.Done()
			})
		}
		wg.Wait()
		took := time.Since(began)
		b.StopTimer()
		if failed.Load() > 0 {
			b.Fatalf("%d produce errors", failed.Load())
		}
		b.ReportMetric(float64(n)/took.Seconds(), "readings/s")
	}
}

// BenchmarkBaselineInfluxHTTP posts the same points as pre-encoded,
// uncompressed line protocol to /write, benchLines() lines per request.
func BenchmarkBaselineInfluxHTTP(b *testing.B) {
	b.StopTimer()
	n := benchN()
	var bodies [][]byte
	var enc lineprotocol.Encoder
	enc.SetPrecision(lineprotocol.Nanosecond)
	for k, r := range rawRecords(n, 100) {
		it, _ := decode(Message(r))
		if err := appendLine(&enc, it); err != nil {
			b.Fatal(err)
		}
		if (k+1)%benchLines() == 0 || k == n-1 {
			bodies = append(bodies, bytes.Clone(enc.Bytes()))
			enc.Reset()
		}
	}
	in := testenv.Influx(b)
	in.CreateDB(b, DefaultRawBucket)
	url := in.URL + "/write?precision=ns&db=" + DefaultRawBucket
	for i := 0; i < b.N; i++ {
		b.StartTimer()
		began := time.Now()
		for _, body := range bodies {
			resp, err := http.Post(url, "text/plain", bytes.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent {
				b.Fatalf("write: %s", resp.Status)
			}
		}
		took := time.Since(began)
		b.StopTimer()
		b.ReportMetric(float64(n)/took.Seconds(), "readings/s")
	}
}

// benchLines is the points per InfluxDB request (EDGESPOOL_BENCH_LINES,
// default 10,000 as InfluxOptions).
func benchLines() int {
	if n, err := strconv.Atoi(os.Getenv("EDGESPOOL_BENCH_LINES")); err == nil && n > 0 {
		return n
	}
	return 10000
}
