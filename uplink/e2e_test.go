package uplink

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent/model"

	"github.com/edgespool/edgespool/sim/testenv"
	"github.com/edgespool/edgespool/spool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// servers are the real servers shared by the scenarios of one test: kfake
// and InfluxDB 1.8, each behind its own Toxiproxy proxy. Every scenario
// uses topics and databases of its own.
type servers struct {
	kafka      *testenv.KafkaCluster
	kafkaProxy *testenv.Proxy
	influx     *testenv.InfluxServer
	influxURL  string // through the proxy
	inflProxy  *testenv.Proxy
}

func startServers(t *testing.T) *servers {
	t.Helper()
	toxi := testenv.Toxiproxy(t)
	s := &servers{kafka: testenv.Kafka(t, testenv.KafkaBehind(toxi)), influx: testenv.Influx(t)}
	kp, err := toxi.Client.Proxy("kafka0")
	if err != nil {
		t.Fatal(err)
	}
	s.kafkaProxy = &testenv.Proxy{Listen: kp.Listen, Upstream: kp.Upstream, Proxy: kp}
	u, _ := url.Parse(s.influx.URL)
	s.inflProxy = toxi.Proxy(t, "influx", u.Host)
	s.influxURL = "http://" + s.inflProxy.Listen
	return s
}

// scenario is one run: a spool fed by a producer, four forwarders (Kafka
// and InfluxDB, raw and downsampled) through the proxies.
type scenario struct {
	t     *testing.T
	srv   *servers
	name  string
	sp    *spool.Spool
	logs  *syncBuffer
	fwds  []*Forwarder
	stops []func() error
	kafka KafkaOptions
	infl  InfluxOptions

	mu       sync.Mutex
	produced map[string][]spool.Record // stream -> records in spool order
}

var consumers = map[string][]string{
	model.StreamRaw:         {"kafka/raw", "influx/raw"},
	model.StreamDownsampled: {"kafka/down", "influx/down"},
}

func newScenario(t *testing.T, srv *servers, name string, topicConfigs ...string) *scenario {
	t.Helper()
	sp, err := spool.Open(filepath.Join(t.TempDir(), "spool.db"), spool.Options{NoSync: true, Consumers: consumers})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	sc := &scenario{t: t, srv: srv, name: name, sp: sp, logs: &syncBuffer{}, produced: map[string][]spool.Record{}}
	topics := map[string]string{model.StreamRaw: name + "_raw", model.StreamDownsampled: name + "_down"}
	adm := kadm.NewClient(srv.kafka.Client(t))
	configs := map[string]*string{}
	for i := 0; i+1 < len(topicConfigs); i += 2 {
		configs[topicConfigs[i]] = &topicConfigs[i+1]
	}
	if _, err := adm.CreateTopics(context.Background(), 3, 1, configs, topics[model.StreamRaw], topics[model.StreamDownsampled]); err != nil {
		t.Fatal(err)
	}
	sc.kafka = KafkaOptions{Brokers: srv.kafka.Addrs, Topics: topics, WriteTimeout: 3 * time.Second}
	for _, db := range topics {
		srv.influx.CreateDB(t, db)
	}
	sc.infl = InfluxOptions{URL: srv.influxURL, Buckets: topics, Timeout: 5 * time.Second}
	return sc
}

// startForwarders starts the four forwarders with fast backoff.
func (sc *scenario) startForwarders() {
	t := sc.t
	log := slog.New(slog.NewTextHandler(sc.logs, nil))
	ks, err := NewKafka(sc.kafka)
	if err != nil {
		t.Fatal(err)
	}
	is, err := NewInflux(sc.infl)
	if err != nil {
		t.Fatal(err)
	}
	m := NewMetrics(nil)
	head := func(stream string) uint64 { return sc.sp.Stats().Streams[stream].LastSeq }
	for _, sink := range []Sink{ks, is} {
		link := NewLink(sink.Name(), LinkOptions{DownAfter: time.Second, Logger: log, Metrics: m})
		for _, stream := range []string{model.StreamDownsampled, model.StreamRaw} {
			f, err := NewForwarder(sc.sp, sink, ForwarderOptions{Stream: stream, Link: link, Logger: log, Metrics: m,
				SendTimeout: 5 * time.Second, Head: head, BatchRecords: 2000,
				Backoff: BackoffOptions{Min: 20 * time.Millisecond, Max: 300 * time.Millisecond}})
			if err != nil {
				t.Fatal(err)
			}
			sc.fwds = append(sc.fwds, f)
			sc.stops = append(sc.stops, start(t, f))
		}
	}
	t.Cleanup(func() { ks.Close(); is.Close() })
}

func (sc *scenario) stopForwarders() {
	for _, stop := range sc.stops {
		if err := stop(); err != nil {
			sc.t.Fatal(err)
		}
	}
	sc.fwds, sc.stops = nil, nil
}

// produce appends readings of gens generators, per generator in sequence,
// `per` each, in batches of 100 every `every`; every 60th reading of a
// generator also yields a downsampled point. mutate may alter a reading.
func (sc *scenario) produce(gens, per int, every time.Duration, mutate func(g, i int, r *model.Reading)) {
	ctx := context.Background()
	var batch []spool.Record
	flush := func() {
		if len(batch) == 0 {
			return
		}
		if err := sc.sp.Append(ctx, batch); err != nil {
			sc.t.Error(err)
		}
		sc.mu.Lock()
		for _, r := range batch {
			sc.produced[r.Stream] = append(sc.produced[r.Stream], r)
		}
		sc.mu.Unlock()
		batch = nil
		time.Sleep(every)
	}
	for i := 0; i < per; i++ {
		for g := 0; g < gens; g++ {
			r := reading(g, i)
			if mutate != nil {
				mutate(g, i, &r)
			}
			batch = append(batch, spool.Record{Stream: model.StreamRaw, Key: r.GeneratorID, Time: r.Time,
				Value: model.AppendReading(nil, r)})
			if i%60 == 59 {
				p := model.Point{Reading: r, Window: r.Time - r.Time%int64(time.Minute), Alarm: "no action", Region: "US"}
				batch = append(batch, spool.Record{Stream: model.StreamDownsampled, Key: r.GeneratorID,
					Time: r.Time, Value: model.AppendPoint(nil, p)})
			}
			if len(batch) >= 100 {
				flush()
			}
		}
	}
	flush()
}

// drained waits until every forwarder's cursor reached its stream's end.
func (sc *scenario) drained(timeout time.Duration) {
	sc.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		done := true
		st := sc.sp.Stats()
		for stream, names := range consumers {
			for _, c := range names {
				if seq, _, _ := sc.sp.Cursor(c, stream); seq < st.Streams[stream].LastSeq {
					done = false
				}
			}
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			for _, f := range sc.fwds {
				sc.t.Logf("%+v", f.Status())
			}
			sc.t.Fatalf("not drained after %v; logs:\n%s", timeout, sc.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// verify checks both sinks against what was produced, except the records
// whose generator ids are in rejected[sink].
func (sc *scenario) verify(rejected map[string][]string) {
	t := sc.t
	t.Helper()
	for _, stream := range []string{model.StreamRaw, model.StreamDownsampled} {
		sc.mu.Lock()
		all := sc.produced[stream]
		sc.mu.Unlock()
		want := func(sink string) []Message {
			var out []Message
			for _, r := range all {
				if !containsString(rejected[sink], r.Key) {
					out = append(out, Message(r))
				}
			}
			return out
		}
		kr := sc.srv.kafka.Consume(t, sc.kafka.Topics[stream])
		got := kafkaStored(t, kr)
		checkStored(t, got, want("kafka"), 1<<30)
		checkKafkaOrder(t, kr, want("kafka"))
		if extra := len(got) - len(want("kafka")); extra > 0 {
			t.Logf("%s: %d duplicates in Kafka, all carrying an identity header", stream, extra)
		}
		series := sc.srv.influx.Query(t, sc.infl.Buckets[stream], "SELECT * FROM genData WHERE generatorID != 'other' GROUP BY *")
		got = influxStored(t, series)
		if len(got) != len(want("influx")) {
			t.Errorf("%s: InfluxDB holds %d points, want %d", stream, len(got), len(want("influx")))
		}
		checkStored(t, got, want("influx"), 1)
	}
}

func containsString(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// checkKafkaOrder checks that, per partition, each generator's records,
// replays dropped by identity, come in spool order, and every record has
// an identity header.
func checkKafkaOrder(t *testing.T, recs []*kgo.Record, want []Message) {
	t.Helper()
	wantOrder := map[string][]string{} // generator -> identities in spool order
	for _, m := range want {
		it, _ := decode(m)
		wantOrder[it.GeneratorID] = append(wantOrder[it.GeneratorID], string(appendIdentity(nil, it)))
	}
	seen := map[string]bool{}
	gotOrder := map[string][]string{}
	partOf := map[string]int32{}
	for _, r := range recs { // Consume returns each partition's records in offset order
		id := header(r, HeaderID)
		if id == "" || header(r, HeaderStream) == "" {
			t.Fatalf("record without identity headers: %s", r.Value)
		}
		if p, ok := partOf[string(r.Key)]; ok && p != r.Partition {
			t.Fatalf("generator %s in partitions %d and %d", r.Key, p, r.Partition)
		}
		partOf[string(r.Key)] = r.Partition
		if seen[id] {
			continue
		}
		seen[id] = true
		gotOrder[string(r.Key)] = append(gotOrder[string(r.Key)], id)
	}
	for g, ids := range wantOrder {
		if strings.Join(gotOrder[g], ",") != strings.Join(ids, ",") {
			t.Fatalf("generator %s: order in Kafka differs from spool order", g)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// during runs the producer while fault runs, then waits for both.
func (sc *scenario) during(gens, per int, every time.Duration, fault func()) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc.produce(gens, per, every, nil)
	}()
	fault()
	wg.Wait()
}

// TestRealServers runs the Sink contract and the forwarding scenarios
// against one kfake cluster and one InfluxDB 1.8 server (starting influxd
// takes seconds), each scenario with topics and databases of its own.
func TestRealServers(t *testing.T) {
	if testing.Short() {
		t.Skip("real servers")
	}
	srv := startServers(t)
	t.Run("contract kafka", func(t *testing.T) { contractKafka(t, srv.kafka) })
	t.Run("contract influx", func(t *testing.T) { contractInflux(t, srv.influx) })
	t.Run("link down during load then restored", func(t *testing.T) {
		sc := newScenario(t, srv, "down")
		sc.startForwarders()
		// The producer runs well past the cut, so the forwarders have
		// records to fail on while the link is down.
		sc.during(20, 300, 10*time.Millisecond, func() {
			time.Sleep(200 * time.Millisecond)
			srv.kafkaProxy.Cut(t)
			srv.inflProxy.Cut(t)
			time.Sleep(2 * time.Second)
			srv.kafkaProxy.Restore(t)
			srv.inflProxy.Restore(t)
		})
		sc.drained(60 * time.Second)
		sc.verify(nil)
		for _, want := range []string{`msg="link down" sink=kafka`, `msg="link recovered" sink=kafka`,
			`msg="link down" sink=influx`, `msg="link recovered" sink=influx`} {
			if !strings.Contains(sc.logs.String(), want) {
				t.Errorf("log lacks %q:\n%s", want, sc.logs)
			}
		}
	})
	t.Run("flapping", func(t *testing.T) {
		sc := newScenario(t, srv, "flap")
		sc.startForwarders()
		sc.during(20, 300, 5*time.Millisecond, func() {
			for i := 0; i < 6; i++ {
				time.Sleep(150 * time.Millisecond)
				srv.kafkaProxy.Cut(t)
				srv.inflProxy.Cut(t)
				time.Sleep(150 * time.Millisecond)
				srv.kafkaProxy.Restore(t)
				srv.inflProxy.Restore(t)
			}
		})
		sc.drained(60 * time.Second)
		sc.verify(nil)
	})
	t.Run("slow link", func(t *testing.T) {
		sc := newScenario(t, srv, "slow")
		srv.kafkaProxy.Latency(t, 80*time.Millisecond, 20*time.Millisecond)
		srv.inflProxy.Latency(t, 80*time.Millisecond, 20*time.Millisecond)
		defer func() {
			for _, p := range []*testenv.Proxy{srv.kafkaProxy, srv.inflProxy} {
				_ = p.RemoveToxic("latency_down")
				_ = p.RemoveToxic("latency_up")
			}
		}()
		sc.startForwarders()
		sc.during(20, 200, 5*time.Millisecond, func() {})
		sc.drained(60 * time.Second)
		sc.verify(nil)
	})
	t.Run("sink restart", func(t *testing.T) {
		sc := newScenario(t, srv, "restart")
		sc.startForwarders()
		sc.during(20, 300, 10*time.Millisecond, func() {
			time.Sleep(200 * time.Millisecond)
			srv.kafka.Stop()
			srv.influx.Stop()
			time.Sleep(500 * time.Millisecond)
			srv.kafka.Start()
			srv.influx.Start()
		})
		sc.drained(60 * time.Second)
		sc.verify(nil)
	})
	t.Run("record rejected permanently", func(t *testing.T) {
		// InfluxDB: fuel is a float in the shard of 2001; one reading of
		// generator5 falls into it. Kafka: one reading's id makes it larger
		// than MaxMessageBytes, and the brokers refuse uncompressed
		// partition batches over 16 kB, so whole batches are refused as too
		// large and must be split until they fit, without a dead letter.
		sc := newScenario(t, srv, "reject", "max.message.bytes", "16000")
		sc.kafka.Compression = "none"
		old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
		srv.influx.Write(t, sc.infl.Buckets[model.StreamRaw], fmt.Sprintf("genData,generatorID=other fuel=1.5 %d\n", old))
		long := "generator-" + strings.Repeat("x", 240)
		sc.kafka.MaxMessageBytes = 700
		sc.startForwarders()
		sc.produce(10, 100, time.Millisecond, func(g, i int, r *model.Reading) {
			if g == 5 && i == 50 {
				r.GeneratorID, r.Time = "old5", old+int64(time.Second)
			}
			if g == 7 && i == 30 {
				r.GeneratorID = long
			}
		})
		sc.drained(60 * time.Second)
		sc.verify(map[string][]string{"kafka": {long}, "influx": {"old5"}})
		var letters []model.DeadLetter
		if err := sc.sp.Scan(model.StreamDeadLetter, 0, func(r spool.Record) error {
			d, err := model.DecodeDeadLetter(r.Value)
			letters = append(letters, d)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if len(letters) != 2 {
			t.Fatalf("dead letters %+v, want 2", letters)
		}
		for _, d := range letters {
			ok := (d.Source == "kafka" && d.Key == long && d.Class == "too_large") ||
				(d.Source == "influx" && d.Key == "old5" && d.Class == "permanent" && strings.Contains(d.Reason, "field type conflict"))
			if !ok || d.Stream != model.StreamRaw || d.Seq == 0 {
				t.Errorf("dead letter %+v", d)
			}
		}
	})
	t.Run("forwarder restart mid-drain", func(t *testing.T) {
		sc := newScenario(t, srv, "fwdrestart")
		sc.produce(20, 1000, 0, nil) // a backlog of 20,000
		sc.startForwarders()
		time.Sleep(100 * time.Millisecond)
		sc.stopForwarders()
		if seq, _, _ := sc.sp.Cursor("kafka/raw", model.StreamRaw); seq >= 20000 {
			t.Logf("kafka/raw had already drained (cursor %d) when stopped", seq)
		}
		sc.startForwarders()
		sc.drained(60 * time.Second)
		sc.verify(nil)
	})
}
