package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent/model"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/edgespool/edgespool/agent"
	"github.com/edgespool/edgespool/sim/testenv"
	"github.com/edgespool/edgespool/sim/verify"
)

// env is one set of real servers: Mosquitto, kfake behind the Toxiproxy
// proxy kafka0, and influxd behind the proxy influxdb.
type env struct {
	broker     *testenv.Broker
	toxi       *testenv.Toxi
	kafka      *testenv.KafkaCluster
	kafkaLink  *testenv.Proxy
	influx     *testenv.InfluxServer
	influxLink *testenv.Proxy
}

// newEnv starts the servers, creates the Kafka topics (3 partitions; the
// agent does not ask for auto-creation) and the InfluxDB databases.
func newEnv(tb testing.TB) *env { return startEnv(tb, true) }

// newDirectEnv is newEnv without Toxiproxy: the agent talks to Kafka and
// InfluxDB directly, as on a site (for benchmarks).
func newDirectEnv(tb testing.TB, broker ...testenv.BrokerOption) *env {
	return startEnv(tb, false, broker...)
}

func startEnv(tb testing.TB, proxied bool, broker ...testenv.BrokerOption) *env {
	tb.Helper()
	e := &env{broker: testenv.Mosquitto(tb, broker...)}
	if proxied {
		e.toxi = testenv.Toxiproxy(tb)
		e.kafka = testenv.Kafka(tb, testenv.KafkaBehind(e.toxi))
		p, err := e.toxi.Client.Proxy("kafka0")
		if err != nil {
			tb.Fatalf("toxiproxy kafka0: %v", err)
		}
		e.kafkaLink = &testenv.Proxy{Listen: e.kafka.Addrs[0], Proxy: p}
	} else {
		e.kafka = testenv.Kafka(tb)
	}
	e.influx = testenv.Influx(tb)
	e.influx.CreateDB(tb, verify.DefaultRawDB)
	e.influx.CreateDB(tb, verify.DefaultDownDB)
	if proxied {
		e.influxLink = e.toxi.Proxy(tb, "influxdb", strings.TrimPrefix(e.influx.URL, "http://"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(e.kafka.Client(tb)).CreateTopics(ctx, 3, 1, nil,
		verify.DefaultRawTopic, verify.DefaultDownTopic)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		tb.Fatalf("create topics: %v", err)
	}
	return e
}

// cut takes both uplinks down; restore brings them back.
func (e *env) cut(tb testing.TB) {
	e.kafkaLink.Cut(tb)
	e.influxLink.Cut(tb)
}

func (e *env) restore(tb testing.TB) {
	e.kafkaLink.Restore(tb)
	e.influxLink.Restore(tb)
}

// agentOptions are the test-specific parts of the agent's configuration.
type agentOptions struct {
	Window time.Duration // downsample window (default 2s)
	Batch  int           // Kafka and InfluxDB batch bound (default: the agent's)
	// CommitMaxDelay is spool.commit_max_delay ("": the agent's default).
	CommitMaxDelay string
	// SpoolMaxBytes is spool.max_bytes ("": the agent's default).
	SpoolMaxBytes string
	LogLevel      string // default info
	// InfluxURL replaces the InfluxDB URL (default: the server, or its
	// proxy in a proxied env).
	InfluxURL string
	// BrokerListen runs the agent in broker mode, serving MQTT on this
	// host:port to anonymous devices, instead of subscribing to Mosquitto.
	BrokerListen string
	// Extra is YAML appended to the configuration (top-level keys).
	Extra string
}

// agentProc is the edgespool binary running as a child process with a
// generated configuration. Its spool survives restarts.
type agentProc struct {
	tb       testing.TB
	dir      string
	cfgPath  string
	httpAddr string
	logPath  string
	cmd      *exec.Cmd
	done     chan struct{}
	client   *http.Client
}

// newAgent writes the configuration: MQTT from the broker, Kafka and
// InfluxDB through the proxies, a short downsample window.
func (e *env) newAgent(tb testing.TB, o agentOptions) *agentProc {
	tb.Helper()
	if o.Window == 0 {
		o.Window = 2 * time.Second
	}
	if o.LogLevel == "" {
		o.LogLevel = "info"
	}
	influxURL := e.influx.URL
	if e.influxLink != nil {
		influxURL = "http://" + e.influxLink.Listen
	}
	if o.InfluxURL != "" {
		influxURL = o.InfluxURL
	}
	kafkaBatch, influxBatch, spoolExtra := "", "", ""
	if o.CommitMaxDelay != "" {
		spoolExtra = "  commit_max_delay: " + o.CommitMaxDelay + "\n"
	}
	if o.SpoolMaxBytes != "" {
		spoolExtra += "  max_bytes: " + o.SpoolMaxBytes + "\n"
	}
	if o.Batch > 0 {
		kafkaBatch = fmt.Sprintf("  batch_max_records: %d\n", o.Batch)
		influxBatch = fmt.Sprintf("  batch_max_points: %d\n", o.Batch)
	}
	dir := tb.TempDir()
	a := &agentProc{tb: tb, dir: dir, cfgPath: filepath.Join(dir, "edgespool.yaml"),
		httpAddr: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(tb)), logPath: filepath.Join(dir, "agent.log"),
		client: &http.Client{Timeout: 2 * time.Second}}
	intakeConf := fmt.Sprintf("mqtt:\n  broker: %s\n  client_id: e2e-agent\n  reconnect_max: 1s\n", e.broker.URL)
	if o.BrokerListen != "" {
		intakeConf = fmt.Sprintf("broker:\n  listen: [tcp://%s]\n  auth:\n    allow_anonymous: true\n", o.BrokerListen)
	}
	conf := fmt.Sprintf(`%sspool:
  path: %s
%skafka:
  enabled: true
  brokers: [%q]
  raw_topic: %s
  downsampled_topic: %s
%sinfluxdb:
  enabled: true
  url: %s
  raw_bucket: %s
  downsampled_bucket: %s
%suplink:
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
log:
  level: %s
`, intakeConf, filepath.Join(dir, "spool.db"), spoolExtra, e.kafka.Addrs[0], verify.DefaultRawTopic, verify.DefaultDownTopic,
		kafkaBatch, influxURL, verify.DefaultRawDB, verify.DefaultDownDB, influxBatch, o.Window, a.httpAddr, o.LogLevel)
	conf += o.Extra
	if err := os.WriteFile(a.cfgPath, []byte(conf), 0o644); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(a.kill)
	return a
}

// start starts the agent and waits until /readyz answers 200.
func (a *agentProc) start() {
	a.tb.Helper()
	logFile, err := os.OpenFile(a.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		a.tb.Fatal(err)
	}
	a.cmd = exec.Command(agentBin, "run", "-config", a.cfgPath)
	a.cmd.Stdout, a.cmd.Stderr = logFile, logFile
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := a.cmd.Start(); err != nil {
		logFile.Close()
		a.tb.Fatalf("start edgespool: %v", err)
	}
	done := make(chan struct{})
	a.done = done
	go func(cmd *exec.Cmd) {
		_ = cmd.Wait()
		logFile.Close()
		close(done)
	}(a.cmd)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := a.client.Get("http://" + a.httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-done:
			a.tb.Fatalf("edgespool exited before it was ready\n%s", a.logTail())
		default:
		}
		if time.Now().After(deadline) {
			a.tb.Fatalf("edgespool not ready after 30s\n%s", a.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// running reports whether the process is alive.
func (a *agentProc) running() bool {
	if a.done == nil {
		return false
	}
	select {
	case <-a.done:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL and waits for the process to end.
func (a *agentProc) kill() {
	if !a.running() {
		return
	}
	_ = a.cmd.Process.Kill()
	<-a.done
}

// term stops the agent gracefully.
func (a *agentProc) term() {
	a.tb.Helper()
	if !a.running() {
		return
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
		if st := a.cmd.ProcessState; st != nil && !st.Success() {
			a.tb.Errorf("edgespool after SIGTERM: %v\n%s", st, a.logTail())
		}
	case <-time.After(30 * time.Second):
		a.kill()
		a.tb.Fatalf("edgespool did not stop within 30s of SIGTERM\n%s", a.logTail())
	}
}

func (a *agentProc) pid() int { return a.cmd.Process.Pid }

// status reads /status.
func (a *agentProc) status() (agent.Status, error) {
	var st agent.Status
	resp, err := a.client.Get("http://" + a.httpAddr + "/status")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("/status: %s", resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// logLines returns the lines of the agent's log that contain any of
// the substrings.
func (a *agentProc) logLines(subs ...string) string {
	b, _ := os.ReadFile(a.logPath)
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		for _, s := range subs {
			if strings.Contains(line, s) {
				out = append(out, line)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

// logTail is the end of the agent's log, for failure messages.
func (a *agentProc) logTail() string {
	b, _ := os.ReadFile(a.logPath)
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	return string(b)
}

// backlog sums what is spooled but not yet done: the uplink lag of every
// forwarder and the downsample cursor's lag on the raw stream.
func backlog(st agent.Status) (n uint64, linksUp bool) {
	linksUp = len(st.Sinks) > 0
	for _, s := range st.Sinks {
		n += s.LagRecords
		linksUp = linksUp && s.Link.State.String() == "up"
	}
	for _, c := range st.Spool.Consumers {
		if c.Consumer == agent.ConsumerDownsample && c.Stream == model.StreamRaw {
			n += c.LagRecords
		}
	}
	return n, linksUp
}

// waitDrained waits until the agent has spooled want raw readings (when
// want > 0) and its backlog is 0 with every link up.
func (a *agentProc) waitDrained(want uint64, timeout time.Duration) {
	a.tb.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		st, err := a.status()
		if err == nil {
			n, up := backlog(st)
			raw := rawLastSeq(st)
			if n == 0 && up && raw >= want {
				return
			}
			last = fmt.Sprintf("backlog %d, links up %v, raw last seq %d of %d", n, up, raw, want)
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	a.tb.Fatalf("agent not drained after %v: %s\n%s", timeout, last, a.logTail())
}

// waitSpooled waits until the raw stream holds want readings.
func (a *agentProc) waitSpooled(want uint64, timeout time.Duration) {
	a.tb.Helper()
	deadline := time.Now().Add(timeout)
	got := uint64(0)
	for time.Now().Before(deadline) {
		if st, err := a.status(); err == nil {
			if got = rawLastSeq(st); got >= want {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	a.tb.Fatalf("raw stream holds %d readings after %v, want %d\n%s", got, timeout, want, a.logTail())
}

// rawLastSeq is the raw stream's last sequence number in st.
func rawLastSeq(st agent.Status) uint64 {
	for _, s := range st.Spool.Streams {
		if s.Name == model.StreamRaw {
			return s.LastSeq
		}
	}
	return 0
}
