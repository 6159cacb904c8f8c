package drill

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/edgespool/edgespool/sim/testenv"
	"github.com/edgespool/edgespool/sim/verify"
)

// site is a set of real servers and the agent as its own process.
type site struct {
	broker *testenv.Broker
	toxi   *testenv.Toxi
	kafka  *testenv.KafkaCluster
	influx *testenv.InfluxServer
	agent  Process
	dir    string
}

// startSite starts Mosquitto, kfake behind Toxiproxy (proxy kafka0),
// InfluxDB 1.8 behind Toxiproxy (proxy influxdb) and the agent, built
// from source, with a downsample window of window.
func startSite(t *testing.T, window time.Duration, broker ...testenv.BrokerOption) *site {
	t.Helper()
	s := &site{broker: testenv.Mosquitto(t, broker...), toxi: testenv.Toxiproxy(t), dir: t.TempDir()}
	s.kafka = testenv.Kafka(t, testenv.KafkaBehind(s.toxi))
	s.influx = testenv.Influx(t)
	s.influx.CreateDB(t, verify.DefaultRawDB)
	s.influx.CreateDB(t, verify.DefaultDownDB)
	influxLink := s.toxi.Proxy(t, "influxdb", strings.TrimPrefix(s.influx.URL, "http://"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(s.kafka.Client(t)).CreateTopics(ctx, 3, 1, nil, verify.DefaultRawTopic, verify.DefaultDownTopic)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("create topics: %v", err)
	}
	s.agent = s.agentProcess(t, "http://"+influxLink.Listen, window)
	c := Commands{Name: "agent", P: s.agent, Log: os.Stderr}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Kill(context.Background())
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(s.dir, "agent.log"))
			t.Logf("agent log tail:\n%s", tail(b, 4000))
		}
	})
	return s
}

// agentProcess builds the agent and returns its control: started by a
// shell command, killed and stopped through its pid file.
func (s *site) agentProcess(t *testing.T, influxURL string, window time.Duration) Process {
	t.Helper()
	bin := filepath.Join(s.dir, "edgespool")
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	build := exec.Command(goBin, "build", "-o", bin, "github.com/edgespool/edgespool/agent/cmd/edgespool")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build edgespool: %v\n%s", err, out)
	}
	httpAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg := filepath.Join(s.dir, "edgespool.yaml")
	conf := fmt.Sprintf(`mqtt:
  broker: %s
  client_id: drill-agent
  reconnect_max: 1s
spool:
  path: %s
kafka:
  enabled: true
  brokers: [%q]
  raw_topic: %s
  downsampled_topic: %s
influxdb:
  enabled: true
  url: %s
  raw_bucket: %s
  downsampled_bucket: %s
uplink:
  backoff_min: 50ms
  backoff_max: 1s
  drain_timeout: 2s
downsample:
  enabled: true
  window: %s
  allowed_lateness: 500ms
  idle_grace: 2s
http:
  listen: %s
`, s.broker.URL, filepath.Join(s.dir, "spool.db"), s.kafka.Addrs[0], verify.DefaultRawTopic, verify.DefaultDownTopic,
		influxURL, verify.DefaultRawDB, verify.DefaultDownDB, window, httpAddr)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	pid := filepath.Join(s.dir, "agent.pid")
	return Process{
		URL:       "http://" + httpAddr,
		Config:    cfg,
		Start:     fmt.Sprintf("%s run -config %s >>%s 2>&1 & echo $! >%s", bin, cfg, filepath.Join(s.dir, "agent.log"), pid),
		PIDFile:   pid,
		Version:   bin + " version",
		ReadyWait: 30 * time.Second,
	}
}

// drill returns a shipped drill, scaled, pointed at the site.
func (s *site) drill(t *testing.T, name string, scale float64, window time.Duration) *Drill {
	t.Helper()
	d := mustExample(t, name)
	d.Scale(scale)
	d.DrainTimeout = 90 * time.Second
	d.Site = Site{
		Broker: Process{URL: s.broker.URL, ReadyWait: 10 * time.Second},
		Agent:  s.agent,
		Links: Links{Toxiproxy: s.toxi.Addr, Kafka: Link{Proxies: []string{"kafka0"}},
			InfluxDB: Link{Proxies: []string{"influxdb"}}},
		Sinks: Sinks{
			Kafka:    KafkaSink{Brokers: s.kafka.Addrs, RawTopic: verify.DefaultRawTopic, DownTopic: verify.DefaultDownTopic},
			InfluxDB: InfluxSink{URL: s.influx.URL, RawDB: verify.DefaultRawDB, DownDB: verify.DefaultDownDB},
			Window:   window, Region: verify.DefaultRegion, Timeout: time.Minute,
		},
	}
	return d
}

// brokerControl restarts the test's Mosquitto.
func (s *site) brokerControl() Control {
	return Funcs{
		KillFunc:  func(context.Context) error { s.broker.Kill(); return nil },
		StopFunc:  func(context.Context) error { s.broker.Stop(); return nil },
		StartFunc: func(context.Context) error { s.broker.Start(); return nil },
	}
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// The shipped quick drill, at a quarter of its time, against real servers
// and the real agent: the Kafka cut, the SIGKILL and the broker restart
// happen, nothing is lost, and the report shows the three faults where
// they were planned.
func TestDrillQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("real-server drill (about a minute)")
	}
	const window = 5 * time.Second
	s := startSite(t, window)
	d := s.drill(t, "quick", 0.25, window)
	var out bytes.Buffer
	dir := t.TempDir()
	if keep := os.Getenv("EDGESPOOL_DRILL_DIR"); keep != "" {
		dir = keep // to look at the report afterwards
	}
	var logs lockedBuffer // the simulator's warnings (reconnects, republished messages)
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rec, err := Run(context.Background(), d, Options{Dir: dir, Out: &out, Logger: log, Broker: s.brokerControl(), Scale: 0.25})
	t.Logf("drill output:\n%s\nsimulator warnings:\n%s", out.String(), logs.String())
	if err != nil {
		t.Fatal(err)
	}
	v := rec.Verdict
	if !v.OK || v.Lost != 0 || !v.Drained {
		t.Fatalf("verdict: ok %v, lost %d, drained %v, reasons %q", v.OK, v.Lost, v.Drained, v.Reasons)
	}
	checkEvents(t, rec, []string{OpCut, OpRestore, OpAgentKill, OpAgentStart, OpBrokerStop, OpBrokerStart})
	checkSteps(t, rec)
	if cut := v.Steps[1]; cut.MaxBacklog == 0 || cut.DrainAfter < 0 {
		t.Errorf("kafka cut step: max backlog %d, drained after %v: the cut did not show in the agent's backlog", cut.MaxBacklog, cut.DrainAfter)
	}
	var spooled uint64
	for _, s := range rec.Samples {
		spooled = max(spooled, s.Spooled)
	}
	if spooled == 0 {
		t.Errorf("no sample read the raw stream's last seq from the agent's /status")
	}
	checkMeta(t, rec, d)
	html, err := os.ReadFile(filepath.Join(dir, ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	checkReport(t, string(html), rec.Plan)
	if _, err := ReadRecord(filepath.Join(dir, RecordFile)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"PASS", "kafka cut", "agent-kill", "broker-restart"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q", want)
		}
	}
}

// checkEvents asserts that every op happened, without error.
func checkEvents(t *testing.T, rec *Record, ops []string) {
	t.Helper()
	done := map[string]bool{}
	for _, e := range rec.Events {
		if e.Error != "" {
			t.Errorf("event %s %s at %v: %s", e.Op, e.Link, e.At, e.Error)
		}
		done[e.Op] = true
	}
	for _, op := range ops {
		if !done[op] {
			t.Errorf("no %s event", op)
		}
	}
}

// checkSteps asserts that the steps add up to the whole run.
func checkSteps(t *testing.T, rec *Record) {
	t.Helper()
	var pub, acked uint64
	for _, s := range rec.Verdict.Steps {
		pub += s.Published
		acked += s.Acked
		for _, k := range s.Sinks {
			if uint64(k.Delivered)+k.Lost < s.Acked {
				t.Errorf("step %d %s: %d delivered + %d lost < %d acked", s.Index, k.Sink, k.Delivered, k.Lost, s.Acked)
			}
		}
	}
	if pub != rec.Verdict.Published || acked != rec.Verdict.Acked || pub == 0 {
		t.Errorf("steps: %d published, %d acked; whole run %d, %d", pub, acked, rec.Verdict.Published, rec.Verdict.Acked)
	}
	for i, whole := range rec.Verdict.Report.Down {
		windows := 0
		for _, s := range rec.Verdict.Steps {
			if len(s.Down) != len(rec.Verdict.Report.Down) {
				t.Fatalf("step %d: %d downsampled reports, whole run %d", s.Index, len(s.Down), len(rec.Verdict.Report.Down))
			}
			windows += s.Down[i].Windows
		}
		if windows != whole.Windows || windows == 0 {
			t.Errorf("%s: steps hold %d windows, whole run %d", whole.Sink, windows, whole.Windows)
		}
	}
	if len(rec.Samples) < int(rec.Plan.Steps[len(rec.Plan.Steps)-1].End.Seconds())-2 {
		t.Errorf("%d samples for a %v drill", len(rec.Samples), rec.Plan.Steps[len(rec.Plan.Steps)-1].End)
	}
}

func checkMeta(t *testing.T, rec *Record, d *Drill) {
	t.Helper()
	m := rec.Meta
	h := sha256.Sum256(d.Source)
	if m.DrillSHA256 != hex.EncodeToString(h[:]) {
		t.Errorf("drill hash %s", m.DrillSHA256)
	}
	cfg, _ := os.ReadFile(d.Site.Agent.Config)
	h = sha256.Sum256(cfg)
	if m.AgentSHA256 != hex.EncodeToString(h[:]) {
		t.Errorf("agent config hash %s", m.AgentSHA256)
	}
	if m.AgentVersion == "" || m.AgentVersion == "unknown" || !strings.Contains(m.BrokerVersion, "mosquitto") {
		t.Errorf("versions: agent %q, broker %q", m.AgentVersion, m.BrokerVersion)
	}
}

var faultMark = regexp.MustCompile(`<g class="fault" data-step="(\d+)" data-kind="([a-z-]+)" data-start="([0-9.]+)" data-end="([0-9.]+)">`)

// checkReport asserts that the report is self-contained and marks every
// planned fault, with its kind, at its time.
func checkReport(t *testing.T, html string, p Plan) {
	t.Helper()
	for _, bad := range []string{"<script", "src=", "href=", "url(", "@import", "<link"} {
		if strings.Contains(html, bad) {
			t.Errorf("report contains %q: it must load nothing", bad)
		}
	}
	marks := faultMark.FindAllStringSubmatch(html, -1)
	if len(marks) != len(p.Steps)-1 {
		t.Fatalf("report shows %d fault markers, plan has %d faults", len(marks), len(p.Steps)-1)
	}
	for _, m := range marks {
		i, _ := strconv.Atoi(m[1])
		start, _ := strconv.ParseFloat(m[3], 64)
		end, _ := strconv.ParseFloat(m[4], 64)
		s := p.Steps[i]
		if m[2] != string(s.Fault.Kind) || math.Abs(start-s.Start.Seconds()) > 0.1 || math.Abs(end-s.Recover.Seconds()) > 0.1 {
			t.Errorf("marker %q, plan step %d: %s %v..%v", m[0], i, s.Fault.Kind, s.Start, s.Recover)
		}
	}
	for _, panel := range []string{"readings/s", "agent backlog", "delivered/s", "states"} {
		if !strings.Contains(html, panel) {
			t.Errorf("report lacks the %q panel", panel)
		}
	}
}

// A broker that drops queued messages (Mosquitto's default limit of 1000
// per client) while the agent is stopped loses acknowledged readings: the
// drill fails and names the missing seq ranges in the step of the stop.
func TestDrillLossyBrokerFails(t *testing.T) {
	if testing.Short() {
		t.Skip("real-server drill (about 30 s)")
	}
	const window = 5 * time.Second
	s := startSite(t, window, testenv.BrokerConfig("max_queued_messages 1000"))
	d := s.drill(t, "quick", 1, window)
	d.Name, d.Duration, d.DrainTimeout = "lossy", 16*time.Second, 30*time.Second
	d.Fleet.Generators, d.Fleet.Rate = 5, 100
	d.Timeline = []Fault{{At: 3 * time.Second, Kind: KindAgentRestart, For: 8 * time.Second}}
	var out bytes.Buffer
	rec, err := Run(context.Background(), d, Options{Dir: t.TempDir(), Out: &out, Broker: s.brokerControl()})
	t.Logf("drill output:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	v := rec.Verdict
	if v.OK || v.Lost == 0 {
		t.Fatalf("verdict: ok %v, lost %d: a broker dropping 3000 queued readings passed", v.OK, v.Lost)
	}
	stop := v.Steps[1]
	located := 0
	for _, k := range stop.Sinks {
		if k.Lost == 0 || len(k.MissingBy) == 0 {
			t.Errorf("%s: the loss is not located in the agent-stop step: %+v", k.Sink, k)
		}
		for _, rs := range k.MissingBy {
			for _, r := range rs {
				located += int(r.Len())
			}
		}
	}
	if located == 0 || !strings.Contains(out.String(), "missing generator") {
		t.Errorf("missing seq ranges not named in the summary")
	}
	t.Logf("lost %d, agent counted %.0f (%v), every loss counted: %v", v.Lost, v.CountedTotal, v.Counted, v.LossCounted)
	if v.Counted[metricSeqGaps] == 0 {
		t.Errorf("the agent's seq gap counter did not move: %v", v.Counted)
	}
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
