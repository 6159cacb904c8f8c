package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent/model"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgespool/edgespool/agent"
	"github.com/edgespool/edgespool/sim/testenv"
	"github.com/edgespool/edgespool/spool"
)

// agentProc is the agent running as a child process (this test binary
// re-executed, see TestMain).
type agentProc struct {
	t    testing.TB
	cfg  string
	http string
	log  *os.File
	cmd  *exec.Cmd
}

func newAgentProc(t testing.TB, brokerURL string, extraSpool ...string) *agentProc {
	dir := t.TempDir()
	a := &agentProc{t: t, cfg: filepath.Join(dir, "edgespool.yaml"),
		http: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))}
	conf := fmt.Sprintf("mqtt:\n  broker: %s\n  client_id: crash-test\n  reconnect_max: 1s\n"+
		"spool:\n  path: %s\n"+strings.Join(append(extraSpool, ""), "\n")+"downsample:\n  enabled: false\nhttp:\n  listen: %s\nlog:\n  level: debug\n",
		brokerURL, filepath.Join(dir, "spool.db"), a.http)
	if err := os.WriteFile(a.cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	a.log, _ = os.Create(filepath.Join(dir, "agent.log"))
	t.Cleanup(func() { a.kill(); a.log.Close() })
	return a
}

func (a *agentProc) start() {
	a.cmd = exec.Command(os.Args[0], "run", "-config", a.cfg)
	a.cmd.Env = append(os.Environ(), "EDGESPOOL_TEST_AGENT=1")
	a.cmd.Stdout, a.cmd.Stderr = a.log, a.log
	if err := a.cmd.Start(); err != nil {
		a.t.Fatal(err)
	}
}

func (a *agentProc) kill() {
	if a.cmd != nil && a.cmd.ProcessState == nil {
		a.cmd.Process.Kill()
		a.cmd.Wait()
	}
}

func (a *agentProc) term() {
	a.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- a.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			a.t.Errorf("agent exit after SIGTERM: %v", err)
		}
	case <-time.After(20 * time.Second):
		a.t.Fatal("agent did not stop within 20s of SIGTERM")
	}
}

// rawRecords reads the raw stream count from /status (-1 when unreachable).
func (a *agentProc) rawRecords() int {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + a.http + "/status")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var st agent.Status
	if json.NewDecoder(resp.Body).Decode(&st) != nil {
		return -1
	}
	for _, s := range st.Spool.Streams {
		if s.Name == model.StreamRaw {
			return int(s.Records)
		}
	}
	return 0
}

// waitRecords waits until the raw stream holds want records.
func (a *agentProc) waitRecords(want int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if a.rawRecords() >= want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	logText, _ := os.ReadFile(a.log.Name())
	if len(logText) > 6000 {
		logText = logText[len(logText)-6000:]
	}
	var metrics []byte
	if resp, err := http.Get("http://" + a.http + "/metrics"); err == nil {
		metrics, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	var lines []string
	for _, l := range strings.Split(string(metrics), "\n") {
		if strings.HasPrefix(l, "edgespool_intake") || strings.HasPrefix(l, "edgespool_mqtt") {
			lines = append(lines, l)
		}
	}
	a.t.Errorf("raw stream holds %d records after %v, want %d; agent log tail:\n%s\nmetrics:\n%s", a.rawRecords(), timeout, want, logText, strings.Join(lines, "\n"))
}

// publish sends readings seq from..to for each generator at QoS 1 with a
// window of unacknowledged messages, and waits for the broker's PUBACKs.
func publish(t testing.TB, url string, gens, from, to int) {
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("pub-%d", rand.Int())))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher: %v", tok.Error())
	}
	defer c.Disconnect(100)
	var window []mqtt.Token
	for seq := from; seq <= to; seq++ {
		for g := 1; g <= gens; g++ {
			p := fmt.Sprintf(`{"generatorID":"generator%d","seq":%d,"lat":40.7,"lon":-74,"temperature":205,"power":1534,"load":62,"fuel":%d}`, g, seq, 900-seq%500)
			window = append(window, c.Publish(fmt.Sprintf("emergency_generator/generator%d", g), 1, false, p))
			if len(window) >= 500 {
				waitTok(t, window[0])
				window = window[1:]
			}
		}
	}
	for _, tok := range window {
		waitTok(t, tok)
	}
}

func waitTok(t testing.TB, tok mqtt.Token) {
	if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
}

// checkSpool opens the spool after the agent stopped and checks that every
// (generator, seq) in 1..n is there exactly once.
func checkSpool(t *testing.T, path string, gens, n int) {
	sp, err := spool.Open(path, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	seen := map[string]map[uint64]int{}
	err = sp.Scan(model.StreamRaw, 0, func(r spool.Record) error {
		rd, err := model.DecodeReading(r.Value)
		if err != nil {
			return err
		}
		if seen[rd.GeneratorID] == nil {
			seen[rd.GeneratorID] = map[uint64]int{}
		}
		seen[rd.GeneratorID][rd.Seq]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	missing, dups := 0, 0
	for g := 1; g <= gens; g++ {
		m := seen[fmt.Sprintf("generator%d", g)]
		for s := 1; s <= n; s++ {
			switch c := m[uint64(s)]; {
			case c == 0:
				if missing++; missing < 20 {
					t.Logf("missing generator%d seq %d", g, s)
				}
			case c > 1:
				dups += c - 1
			}
		}
	}
	t.Logf("%d generators x %d readings: %d missing, %d duplicates", gens, n, missing, dups)
	if missing != 0 || dups != 0 {
		t.Fatalf("spool is not exactly once: %d missing, %d duplicates", missing, dups)
	}
}

// TestCrashLosesNothing SIGKILLs the agent at random moments while it
// ingests, several rounds, and proves that the spool finally holds every
// published reading exactly once.
func TestCrashLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("real broker and processes")
	}
	b := testenv.Mosquitto(t)
	a := newAgentProc(t, b.URL)
	const gens, n = 5, 4000
	a.start() // create the persistent session before anything is published
	a.waitReady()
	a.kill()
	var published atomic.Bool
	go func() {
		defer published.Store(true)
		publish(t, b.URL, gens, 1, n)
	}()
	for round := 0; round < 6; round++ {
		a.start()
		time.Sleep(time.Duration(150+rand.IntN(600)) * time.Millisecond)
		before := a.rawRecords()
		a.kill()
		t.Logf("round %d: SIGKILL with %d raw records in the spool", round, before)
	}
	for !published.Load() {
		time.Sleep(50 * time.Millisecond)
	}
	a.start()
	a.waitRecords(gens*n, 60*time.Second)
	time.Sleep(300 * time.Millisecond) // let redeliveries, if any, arrive
	a.term()
	checkSpool(t, filepath.Join(filepath.Dir(a.cfg), "spool.db"), gens, n)
}

// TestBrokerRestartLosesNothing restarts the broker while the agent drains
// a backlog queued for its persistent session.
func TestBrokerRestartLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("real broker and processes")
	}
	b := testenv.Mosquitto(t)
	a := newAgentProc(t, b.URL)
	const gens, n = 5, 3000
	a.start()
	a.waitReady()
	a.term() // the session now exists; the broker queues for it
	publish(t, b.URL, gens, 1, n)
	a.start()
	time.Sleep(time.Duration(100+rand.IntN(200)) * time.Millisecond)
	b.Stop()
	b.Start()
	publish(t, b.URL, gens, n+1, 2*n)
	a.waitRecords(gens*2*n, 60*time.Second)
	time.Sleep(300 * time.Millisecond)
	a.term()
	checkSpool(t, filepath.Join(filepath.Dir(a.cfg), "spool.db"), gens, 2*n)
}

func (a *agentProc) waitReady() {
	c := http.Client{Timeout: time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := c.Get("http://" + a.http + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	a.t.Fatal("agent not ready in 15s")
}
