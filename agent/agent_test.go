package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/goleak"

	"github.com/edgespool/edgespool/agent/config"
	"github.com/edgespool/edgespool/agent/model"
	"github.com/edgespool/edgespool/downsample"
	"github.com/edgespool/edgespool/sim/testenv"
	"github.com/edgespool/edgespool/spool"
)

// testConfig is a configuration on a temporary spool, for broker; the
// sinks and the downsample are off.
func testConfig(t *testing.T, broker string) config.Config {
	cfg := config.Default()
	cfg.MQTT.Broker, cfg.MQTT.ClientID = broker, "agent-test"
	cfg.MQTT.ConnectTimeout, cfg.MQTT.ReconnectMax = 2*time.Second, time.Second
	cfg.Spool.Path = filepath.Join(t.TempDir(), "spool.db")
	cfg.Spool.NoSync = true
	cfg.Downsample.Enabled = false
	cfg.Kafka.Enabled, cfg.InfluxDB.Enabled = false, false
	cfg.HTTP.Listen = ""
	cfg.Uplink.DrainTimeout = 2 * time.Second
	return cfg
}

// logBuffer keeps the agent's log lines for assertions.
type logBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	return len(p), nil
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b)
}

func testLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// runAgent runs a in the background; stop cancels it and returns Run's error.
func runAgent(t *testing.T, a *Agent) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("Run did not return within 30s of the cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// TestFailedStartStopsWhatStarted: when a stage fails to start (here the
// downsample, with a bad alarm rule, after the forwarders started), Run
// returns the error, every goroutine it started has ended, and the spool
// is closed (it can be opened again).
func TestFailedStartStopsWhatStarted(t *testing.T) {
	cfg := testConfig(t, fmt.Sprintf("tcp://127.0.0.1:%d", testenv.FreePort(t)))
	cfg.Kafka.Enabled = true
	cfg.Kafka.Brokers = []string{fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))}
	cfg.Downsample.Enabled = true
	cfg.Downsample.Alarm.Op = "~"
	ignore := goleak.IgnoreCurrent()
	a := New(cfg, testLogger(io.Discard))
	err := a.Run(context.Background())
	if !errors.Is(err, downsample.ErrBadRule) {
		t.Fatalf("Run: %v, want the downsample's ErrBadRule", err)
	}
	goleak.VerifyNone(t, ignore)
	sp, err := spool.Open(cfg.Spool.Path, spool.Options{})
	if err != nil {
		t.Fatalf("spool still held after the failed start: %v", err)
	}
	sp.Close()
}

// TestStatusWhileStarting reads the status concurrently with the start and
// the stop: the race detector fails this test if a stage publishes its
// parts (spool, intake, forwarders) without synchronisation.
func TestStatusWhileStarting(t *testing.T) {
	cfg := testConfig(t, fmt.Sprintf("tcp://127.0.0.1:%d", testenv.FreePort(t)))
	cfg.Kafka.Enabled, cfg.InfluxDB.Enabled = true, true
	cfg.Kafka.Brokers = []string{fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))}
	cfg.InfluxDB.URL = fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
	cfg.HTTP.Listen = "127.0.0.1:0"
	a := New(cfg, testLogger(io.Discard))
	stopReading := make(chan struct{})
	var reads sync.WaitGroup
	sinks := 0
	reads.Go(func() {
		for {
			select {
			case <-stopReading:
				return
			default:
			}
			st := a.Status()
			sinks = max(sinks, len(st.Sinks))
			_ = a.HTTPAddr()
			_ = a.Ready()
		}
	})
	stop := runAgent(t, a)
	testenv.WaitFor(t, 10*time.Second, func() bool { return len(a.Status().Sinks) == 4 })
	if err := stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
	close(stopReading)
	reads.Wait()
	if sinks != 4 {
		t.Errorf("status showed %d forwarders, want 4", sinks)
	}
}

// TestCursorNamesHaveOneDefinition: the spool keeps records for exactly
// the cursors the forwarders and the engine use.
func TestCursorNamesHaveOneDefinition(t *testing.T) {
	cfg := testConfig(t, fmt.Sprintf("tcp://127.0.0.1:%d", testenv.FreePort(t)))
	cfg.Kafka.Enabled, cfg.InfluxDB.Enabled, cfg.Downsample.Enabled = true, true, true
	cfg.Kafka.Brokers = []string{fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))}
	cfg.InfluxDB.URL = fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
	a := New(cfg, testLogger(io.Discard))
	stop := runAgent(t, a)
	testenv.WaitFor(t, 10*time.Second, func() bool { return len(a.Status().Sinks) == 4 })
	used := map[string][]string{model.StreamRaw: {ConsumerDownsample}}
	for _, s := range a.Status().Sinks {
		used[s.Stream] = append(used[s.Stream], s.Consumer)
	}
	want := a.consumers()
	for stream := range want {
		slices.Sort(want[stream])
		slices.Sort(used[stream])
		if !slices.Equal(want[stream], used[stream]) {
			t.Errorf("%s: spool keeps records for %v, the running parts use %v", stream, want[stream], used[stream])
		}
	}
	if len(want) != len(used) {
		t.Errorf("streams: spool %v, used %v", want, used)
	}
	_ = stop()
}

// snakeKey is the one key style of every JSON output.
var snakeKey = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// checkSnakeKeys walks every object key of a decoded JSON value.
func checkSnakeKeys(t *testing.T, path string, v any) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if !snakeKey.MatchString(k) {
				t.Errorf("key %s.%s is not snake_case", path, k)
			}
			checkSnakeKeys(t, path+"."+k, e)
		}
	case []any:
		for i, e := range v {
			checkSnakeKeys(t, fmt.Sprintf("%s[%d]", path, i), e)
		}
	}
}

// TestRunOnBrokerStopsCleanly runs the whole agent against Mosquitto and
// Kafka: it gets ready, spools and forwards readings, /status has snake_case
// keys only, and after the stop no goroutine of the agent is left.
func TestRunOnBrokerStopsCleanly(t *testing.T) {
	b := testenv.Mosquitto(t)
	k := testenv.Kafka(t, testenv.KafkaOpts(kfake.SeedTopics(1, config.Default().Kafka.RawTopic,
		config.Default().Kafka.DownsampledTopic)))
	cfg := testConfig(t, b.URL)
	cfg.Kafka.Enabled, cfg.Kafka.Brokers = true, k.Addrs
	cfg.Downsample.Enabled = true
	cfg.HTTP.Listen = "127.0.0.1:0"
	ignore := goleak.IgnoreCurrent()
	a := New(cfg, testLogger(testWriter{t}))
	stop := runAgent(t, a)
	testenv.WaitFor(t, 15*time.Second, func() bool { return a.Ready() == nil })
	pub := testPublisher(t, b.URL, "pub-run")
	for i := 1; i <= 20; i++ {
		publishReading(t, pub, "generator1", i, time.Now())
	}
	testenv.WaitFor(t, 15*time.Second, func() bool {
		for _, s := range a.Status().Sinks {
			if s.Stream == model.StreamRaw && s.Sent >= 20 {
				return true
			}
		}
		return false
	})
	resp, err := http.Get("http://" + a.HTTPAddr() + "/status")
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	err = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	checkSnakeKeys(t, "status", doc)
	pub.Disconnect(100)
	if err := stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
	goleak.VerifyNone(t, ignore)
}

func testPublisher(t *testing.T, broker, id string) mqtt.Client {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker).SetClientID(id))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func publishReading(t *testing.T, c mqtt.Client, gen string, seq int, at time.Time) {
	t.Helper()
	payload := fmt.Sprintf(`{"generatorID":%q,"lat":40.7,"lon":-74,"temperature":205,"power":1534,"load":62,"fuel":%d,"seq":%d,"time":%q}`,
		gen, 100+seq, seq, at.UTC().Format(time.RFC3339Nano))
	if tok := c.Publish("emergency_generator/"+gen, 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
}

// testWriter logs through t.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}
