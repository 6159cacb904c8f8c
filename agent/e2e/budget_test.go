package e2e

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent"
	"github.com/edgespool/edgespool/agent/model"
	"github.com/edgespool/edgespool/sim/fleet"
	"github.com/edgespool/edgespool/sim/jsonkeys"
	"github.com/edgespool/edgespool/sim/verify"
)

// budgetSinks maps the agent's sink names to the verifier's report names.
var budgetSinks = map[string]string{
	"kafka":  "kafka " + verify.DefaultRawTopic,
	"influx": "influxdb " + verify.DefaultRawDB,
}

// lossCount is what the agent counted as lost for one raw forwarder, from
// every place it reports it.
type lossCount struct {
	cursor       uint64  // /status spool.consumers[].dropped
	forwarder    uint64  // /status sinks[].dropped
	cursorMetric float64 // edgespool_spool_consumer_dropped_records_total
	uplinkMetric float64 // edgespool_uplink_dropped_total
}

// The spool runs on a 1 MiB budget while both uplinks are cut and the
// fleet publishes about four times that. The spool must drop the oldest
// raw records; after the links return and the backlog drains, each sink
// misses exactly the readings the agent counted as dropped for that
// sink's raw cursor — no more (an uncounted loss) and no fewer (a record
// counted although the forwarder had it in hand and delivered it).
func TestDiskBudgetDropsAreCountedExactly(t *testing.T) {
	if testing.Short() {
		t.Skip("whole pipeline on a full spool: skipped with -short")
	}
	e := newEnv(t)
	a := e.newAgent(t, agentOptions{SpoolMaxBytes: "1MiB", Batch: 500, CommitMaxDelay: "200ms"})
	a.start()
	pub := startFleet(t, e.broker.URL, 1, fleet.Options{Generators: 10, Rate: 250, Duration: 9 * time.Second, Seed: 23})
	// Cut while the forwarders keep up, so that each holds a batch it could
	// not send: the spool drops it, and the forwarder delivers it later.
	time.Sleep(time.Second)
	e.cut(t)
	exp := pub.wait(t)
	a.waitSpooled(pub.published(), 30*time.Second)
	st, err := a.status()
	if err != nil {
		t.Fatal(err)
	}
	raw := rawStream(t, st)
	if raw.Dropped == 0 {
		t.Fatalf("the spool dropped nothing: %d raw records held in %d bytes of a %d-byte cap",
			raw.Records, st.Spool.LogicalBytes, st.Spool.CapBytes)
	}
	a.checkStatusSample(t)
	t.Logf("published %d readings, the links cut after 1 s; the spool holds %d raw records (%d bytes of %d) and dropped %d",
		pub.published(), raw.Records, st.Spool.LogicalBytes, st.Spool.CapBytes, raw.Dropped)
	e.restore(t)
	a.waitDrained(pub.published(), 60*time.Second)

	missing := e.rawMissing(t, exp, 30*time.Second, func(got map[string]uint64) bool {
		return agreed(got, a.losses(t))
	})
	losses := a.losses(t)
	st, err = a.status()
	if err != nil {
		t.Fatal(err)
	}
	streamDropped := rawStream(t, st).Dropped
	for sink, l := range losses {
		t.Logf("%s: verifier missing %d; counted: cursor %d, forwarder %d, %s %v, %s %v; "+
			"dropped from the spool after the forwarder had them, then delivered: %d",
			sink, missing[sink], l.cursor, l.forwarder, metricCursorDropped, l.cursorMetric,
			metricUplinkDropped, l.uplinkMetric, streamDropped-l.cursor)
		if missing[sink] == 0 {
			t.Errorf("%s misses no reading although the spool dropped %d", sink, streamDropped)
		}
		if streamDropped <= l.cursor { // the first readings were in hand when the links went
			t.Errorf("%s: every record the spool dropped counts as lost (%d): none was delivered from the forwarder's hand", sink, l.cursor)
		}
		if !l.equals(missing[sink]) {
			t.Errorf("%s: %d acknowledged readings never delivered, but the agent counted %+v", sink, missing[sink], l)
		}
	}
	a.term()
}

// equals reports whether every count of l is n.
func (l lossCount) equals(n uint64) bool {
	return l.cursor == n && l.forwarder == n && l.cursorMetric == float64(n) && l.uplinkMetric == float64(n)
}

// agreed reports whether the verifier's missing counts match the agent's.
func agreed(missing map[string]uint64, losses map[string]lossCount) bool {
	for sink, l := range losses {
		if !l.equals(missing[sink]) {
			return false
		}
	}
	return true
}

func rawStream(t *testing.T, st agent.Status) agent.StreamStatus {
	t.Helper()
	for _, s := range st.Spool.Streams {
		if s.Name == model.StreamRaw {
			return s
		}
	}
	t.Fatalf("/status has no raw stream: %+v", st.Spool.Streams)
	return agent.StreamStatus{}
}

// rawMissing runs the verifier on the raw streams until done accepts its
// missing counts (sink -> acknowledged readings never delivered) or
// timeout passes, and returns the last counts. Missing only shrinks as a
// sink makes writes visible, so waiting cannot hide a surplus.
func (e *env) rawMissing(t *testing.T, exp verify.Expect, timeout time.Duration, done func(map[string]uint64) bool) map[string]uint64 {
	t.Helper()
	cfg := verify.Config{Expect: exp, Kafka: e.readOptions(""), Influx: verify.InfluxOptions{URL: e.influx.URL}, NoDown: true}
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		rep, err := verify.Run(ctx, cfg)
		cancel()
		if err != nil {
			t.Fatalf("verify: %v", err)
		}
		got := map[string]uint64{}
		for sink, name := range budgetSinks {
			r := findRaw(t, rep, name)
			if r.Mismatch+r.Unknown+r.OutOfOrder+r.BadKey+r.BadID+r.BadRecords > 0 {
				var b strings.Builder
				rep.WriteText(&b)
				t.Fatalf("%s holds wrong records:\n%s", name, b.String())
			}
			got[sink] = r.Missing
		}
		if done(got) || time.Now().After(deadline) {
			return got
		}
		time.Sleep(time.Second)
	}
}

func findRaw(t *testing.T, rep verify.Report, sink string) verify.RawReport {
	t.Helper()
	for _, r := range rep.Raw {
		if r.Sink == sink {
			return r
		}
	}
	t.Fatalf("verifier report has no %s", sink)
	return verify.RawReport{}
}

// The per-consumer drop counters of /metrics.
const (
	metricCursorDropped = "edgespool_spool_consumer_dropped_records_total"
	metricUplinkDropped = "edgespool_uplink_dropped_total"
)

// losses reads the agent's drop counts of each raw forwarder from /status
// and /metrics.
func (a *agentProc) losses(t *testing.T) map[string]lossCount {
	t.Helper()
	st, err := a.status()
	if err != nil {
		t.Fatal(err)
	}
	m := a.metrics()
	out := map[string]lossCount{}
	for sink := range budgetSinks {
		fs, ok := sinkStatus(st, sink, model.StreamRaw)
		if !ok {
			t.Fatalf("/status has no %s raw forwarder", sink)
		}
		l := lossCount{forwarder: fs.Dropped,
			cursorMetric: series(m, metricCursorDropped, fmt.Sprintf("consumer=%q,stream=%q", fs.Consumer, model.StreamRaw)),
			uplinkMetric: series(m, metricUplinkDropped, fmt.Sprintf("sink=%q,stream=%q", sink, model.StreamRaw))}
		found := false
		for _, c := range st.Spool.Consumers {
			if c.Consumer == fs.Consumer && c.Stream == model.StreamRaw {
				l.cursor, found = c.Dropped, true
			}
		}
		if !found {
			t.Fatalf("/status has no spool cursor %s on %s", fs.Consumer, model.StreamRaw)
		}
		out[sink] = l
	}
	return out
}

// series is the value of name{labels} in a metrics scrape, -1 when absent
// (so that it never matches a count). labels are in exposition order.
func series(m map[string]float64, name, labels string) float64 {
	if v, ok := m[name+"{"+labels+"}"]; ok {
		return v
	}
	return -1
}

// statusSample is the agent's /status with a backlog, as the drill reads
// it (sim/drill cannot import the agent).
var (
	statusSample       = filepath.Join("..", "..", "sim", "drill", "testdata", "agent-status.json")
	updateStatusSample = flag.Bool("update-status-sample", false, "write "+statusSample+" from a live /status")
)

// checkStatusSample compares the key paths of the drill's /status sample
// with the live /status (links cut, a backlog): every key in the sample is
// one the agent writes. With -update-status-sample it writes the sample,
// with the machine-specific values replaced and long errors cut.
func (a *agentProc) checkStatusSample(t *testing.T) {
	t.Helper()
	resp, err := a.client.Get("http://" + a.httpAddr + "/status")
	if err != nil {
		t.Fatal(err)
	}
	live, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if *updateStatusSample {
		writeStatusSample(t, live)
		return
	}
	sample, err := os.ReadFile(statusSample)
	if err != nil {
		t.Fatal(err)
	}
	want, err := jsonkeys.Doc(sample)
	if err != nil {
		t.Fatalf("%s: %v", statusSample, err)
	}
	got, err := jsonkeys.Doc(live)
	if err != nil {
		t.Fatalf("/status: %v", err)
	}
	for p := range want {
		if !got[p] {
			t.Errorf("%s has %s, the agent's /status does not (regenerate with -update-status-sample)", statusSample, p)
		}
	}
}

func writeStatusSample(t *testing.T, live []byte) {
	var st map[string]any
	if err := json.Unmarshal(live, &st); err != nil {
		t.Fatal(err)
	}
	shortenStrings(st)
	st["spool"].(map[string]any)["path"] = "/var/lib/edgespool/spool.db"
	st["mqtt"].(map[string]any)["broker"] = "tcp://127.0.0.1:1883"
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(statusSample, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", statusSample)
}

// shortenStrings cuts the long strings (error messages) of a JSON value.
func shortenStrings(v any) {
	const most = 160
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && len(s) > most {
				x[k] = s[:most] + "..."
			}
			shortenStrings(e)
		}
	case []any:
		for _, e := range x {
			shortenStrings(e)
		}
	}
}
