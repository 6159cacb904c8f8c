package uplink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/edgespool/edgespool/agent/model"
	"github.com/edgespool/edgespool/sim/testenv"
	"github.com/edgespool/edgespool/spool"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// restartRig is a real spool drained into kfake by raw forwarders that
// are started, "crashed" and started again.
type restartRig struct {
	t  *testing.T
	k  *testenv.KafkaCluster
	sp *spool.Spool
	m  *Metrics
}

func newRestartRig(t *testing.T, opts ...testenv.KafkaOption) *restartRig {
	k := testenv.Kafka(t, opts...)
	if _, err := kadm.NewClient(k.Client(t)).CreateTopics(context.Background(), 3, 1, nil, DefaultRawTopic); err != nil {
		t.Fatal(err)
	}
	sp, err := spool.Open(filepath.Join(t.TempDir(), "spool.db"), spool.Options{NoSync: true,
		Consumers: map[string][]string{model.StreamRaw: {"kafka/raw"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	return &restartRig{t: t, k: k, sp: sp, m: NewMetrics(nil)}
}

func (r *restartRig) sink() *Kafka {
	s, err := NewKafka(KafkaOptions{Brokers: r.k.Addrs, BatchRecords: 200})
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { s.Close() })
	return s
}

// drain runs a forwarder on a new sink until the cursor reaches the head.
func (r *restartRig) drain() *Forwarder {
	f := newFwd(r.t, r.sp, r.sink(), ForwarderOptions{Stream: model.StreamRaw, Metrics: r.m})
	stop := start(r.t, f)
	head := r.sp.Stats().Streams[model.StreamRaw].LastSeq
	waitFor(r.t, "drain", func() bool { seq, _, _ := r.sp.Cursor("kafka/raw", "raw"); return seq >= head })
	if err := stop(); err != nil {
		r.t.Fatal(err)
	}
	return f
}

// sendUnacked appends recs and sends the first n of them as a run would
// that crashed before committing its cursor.
func (r *restartRig) sendUnacked(recs []spool.Record, n int) {
	if err := r.sp.Append(context.Background(), recs); err != nil {
		r.t.Fatal(err)
	}
	seq, _, _ := r.sp.Cursor("kafka/raw", "raw")
	b, err := r.sp.ReadAfter(model.StreamRaw, seq, n)
	if err != nil {
		r.t.Fatal(err)
	}
	msgs := make([]Message, len(b.Records))
	for i, rec := range b.Records {
		msgs[i] = Message(rec)
	}
	if err := r.sink().Send(context.Background(), msgs); err != nil {
		r.t.Fatal(err)
	}
}

// copies counts the Kafka records of each identity.
func (r *restartRig) copies() map[string]int {
	n := map[string]int{}
	for _, rec := range r.k.Consume(r.t, DefaultRawTopic) {
		n[header(rec, HeaderID)]++
	}
	return n
}

// otherGateway writes records of another gateway's generators, with their
// own identities, into the same topic.
func (r *restartRig) otherGateway(n int) {
	cl := r.k.Client(r.t, kgo.DefaultProduceTopic(DefaultRawTopic))
	for i := range n {
		rec := &kgo.Record{Key: []byte("elsewhere"), Value: []byte("{}"),
			Headers: []kgo.RecordHeader{{Key: HeaderID, Value: []byte("elsewhere/seq/" + string(rune('a'+i%26)))}}}
		if err := cl.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
			r.t.Fatal(err)
		}
	}
}

func TestKafkaRestartSkipsRecordsAlreadyWritten(t *testing.T) {
	r := newRestartRig(t)
	recs := rawRecords(2000, 20)
	if err := r.sp.Append(context.Background(), recs[:1000]); err != nil {
		t.Fatal(err)
	}
	r.drain()
	r.otherGateway(50)
	r.sendUnacked(recs[1000:], 700) // 700 of 1000 sent, the cursor still at 1000
	r.otherGateway(50)
	f := r.drain()
	copies := r.copies()
	for _, rec := range recs {
		id, _ := idOf(Message(rec))
		if copies[id] != 1 {
			t.Fatalf("%s: %d copies in Kafka, want 1", id, copies[id])
		}
	}
	if got := metricValue(t, r.m.skipped.WithLabelValues("kafka", "raw")); got != 700 {
		t.Errorf("already delivered = %v, want 700", got)
	}
	if st := f.Status(); st.Sent != 300 {
		t.Errorf("sent %d after the restart, want the 300 not yet in Kafka", st.Sent)
	}
}

func TestKafkaRestartLookupFailureSendsAndCounts(t *testing.T) {
	r := newRestartRig(t)
	recs := rawRecords(600, 6)
	if err := r.sp.Append(context.Background(), recs[:100]); err != nil {
		t.Fatal(err)
	}
	r.drain()
	r.sendUnacked(recs[100:], 500)
	// Stored positions the check cannot use: it fails.
	if err := r.sp.Commit("kafka/raw", "raw", 100, []byte("not positions"), nil); err != nil {
		t.Fatal(err)
	}
	r.drain()
	if got := metricValue(t, r.m.unchecked.WithLabelValues("kafka", "raw")); got != 500 {
		t.Errorf("unchecked resends = %v, want 500", got)
	}
	dup := 0
	for _, n := range r.copies() {
		dup += n - 1
	}
	if dup != 500 {
		t.Errorf("%d duplicates, want the 500 counted as unchecked", dup)
	}
}

func TestKafkaRestartLookupWaitsForAnUnreachableBroker(t *testing.T) {
	x := testenv.Toxiproxy(t)
	r := newRestartRig(t, testenv.KafkaBehind(x))
	p, err := x.Client.Proxy("kafka0")
	if err != nil {
		t.Fatal(err)
	}
	link := &testenv.Proxy{Proxy: p}
	recs := rawRecords(100, 5)
	if err := r.sp.Append(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	link.Cut(t)
	// First start with the broker unreachable: no positions are stored
	// yet, and none can be read.
	f := newFwd(t, r.sp, r.sink(), ForwarderOptions{Stream: model.StreamRaw, Metrics: r.m})
	stop := start(t, f)
	waitFor(t, "failed lookups", func() bool { return f.Status().Link.Failures >= 2 })
	if got := metricValue(t, r.m.unchecked.WithLabelValues("kafka", "raw")); got != 0 {
		t.Fatalf("%v records sent unchecked while the broker was unreachable", got)
	}
	link.Restore(t)
	waitFor(t, "drain", func() bool { seq, _, _ := r.sp.Cursor("kafka/raw", "raw"); return seq >= 100 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if _, meta, _ := r.sp.Cursor("kafka/raw", "raw"); meta == nil {
		t.Fatal("no positions stored with the cursor")
	}
	if got := metricValue(t, r.m.unchecked.WithLabelValues("kafka", "raw")); got != 0 {
		t.Errorf("unchecked resends = %v, want 0", got)
	}
	if st := f.Status(); st.Link.State != LinkUp {
		t.Errorf("link %s after the drain, want up", st.Link.State)
	}
	for id, n := range r.copies() {
		if n != 1 {
			t.Errorf("%s: %d copies", id, n)
		}
	}
}

func TestLookupErrorsWaitOnlyForTheLink(t *testing.T) {
	live := context.Background()
	expired, cancel := context.WithCancel(live)
	cancel()
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	cases := []struct {
		name  string
		ctx   context.Context
		err   error
		retry bool
	}{
		{"connection refused", live, fmt.Errorf("kafka lookup: metadata: %w", refused), true},
		{"broken connection", live, io.ErrUnexpectedEOF, true},
		{"leader moving", live, kafka.LeaderNotAvailable, true},
		{"not authorized", live, kafka.TopicAuthorizationFailed, false},
		{"unreadable positions", live, errors.New("kafka lookup: stored positions: bad"), false},
		{"past the lookup timeout", expired, fmt.Errorf("kafka lookup: fetch: %w", refused), false},
	}
	for _, c := range cases {
		err := lookupError(c.ctx, c.err)
		var e *Error
		if got := errors.As(err, &e) && e.Class == ClassRetryable; got != c.retry {
			t.Errorf("%s: retryable %v, want %v (%v)", c.name, got, c.retry, err)
		}
	}
}
