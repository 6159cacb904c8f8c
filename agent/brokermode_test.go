package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/goleak"

	"github.com/edgespool/edgespool/downsample"
	"github.com/edgespool/edgespool/sim/testenv"
	"github.com/edgespool/edgespool/spool"
)

// brokerModeConfig is testConfig in broker mode: the agent listens on a
// free loopback port for anonymous devices. It returns the devices' URL.
func brokerModeConfig(t *testing.T) (cfgURL string, a *Agent, logs *logBuffer) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg := testConfig(t, "")
	cfg.Broker.Listen = []string{"tcp://" + addr}
	cfg.Broker.Auth.AllowAnonymous = true
	cfg.Downsample.Enabled = true
	cfg.Downsample.Window, cfg.Downsample.AllowedLateness, cfg.Downsample.IdleGrace = time.Second, 0, time.Second
	cfg.HTTP.Listen = "127.0.0.1:0"
	logs = &logBuffer{}
	return "tcp://" + addr, New(cfg, testLogger(logs)), logs
}

// TestStagesInBrokerMode pins the order the package doc explains: the
// broker before the downsample (its inline client carries the alarms) and
// the intake, the listeners after the intake (devices are accepted only
// once their PUBLISHes can be committed, and refused before it drains).
func TestStagesInBrokerMode(t *testing.T) {
	_, a, _ := brokerModeConfig(t)
	var names []string
	for _, s := range a.stages() {
		names = append(names, s.name)
	}
	want := []string{"spool", "http", "uplinks", "broker", "downsample", "intake", "broker listeners", "supervisor"}
	if !slices.Equal(names, want) {
		t.Fatalf("stages %v, want %v", names, want)
	}
}

// TestBrokerModeRunsAndStopsCleanly runs the agent as the site's broker: it
// is ready once listening, acknowledges readings after storing them,
// publishes and confirms an alarm through its own broker (a device
// subscribing later gets it retained), shows the broker in /status with
// snake_case keys, refuses devices after the stop, and leaves no goroutine.
func TestBrokerModeRunsAndStopsCleanly(t *testing.T) {
	url, a, _ := brokerModeConfig(t)
	ignore := goleak.IgnoreCurrent()
	stop := runAgent(t, a)
	testenv.WaitFor(t, 15*time.Second, func() bool { return a.Ready() == nil })
	pub := testPublisher(t, url, "pub-broker-mode")
	at := time.Now().Truncate(time.Second)
	for i := 1; i <= 20; i++ { // each returns after its PUBACK: after the commit
		publishReading(t, pub, "generator7", i, at.Add(time.Duration(i)*100*time.Millisecond))
	}
	if n, _ := a.counterSum("edgespool_intake_readings_total"); n != 20 {
		t.Errorf("%v readings committed after 20 acknowledged", n)
	}
	testenv.WaitFor(t, 15*time.Second, func() bool {
		n, _ := a.counterSum("edgespool_downsample_alarm_confirmed_total")
		return n >= 1
	})
	if n, _ := a.counterSum("edgespool_downsample_alarm_unconfirmed_total"); n != 0 {
		t.Errorf("%v alarms unconfirmed in broker mode", n)
	}
	if got := retainedAlarm(t, url, "generator7"); !strings.Contains(got, `"generatorID":"generator7"`) {
		t.Errorf("retained alarm %q", got)
	}
	checkBrokerStatus(t, a)
	pub.Disconnect(100)
	if err := stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(url, "tcp://"), time.Second); err == nil {
		c.Close()
		t.Error("the broker still accepts connections after the stop")
	}
	goleak.VerifyNone(t, ignore)
}

// retainedAlarm subscribes as a device to gen's alarm topic and returns the
// retained payload it receives.
func retainedAlarm(t *testing.T, url, gen string) string {
	t.Helper()
	c := testPublisher(t, url, "sub-alarm")
	defer c.Disconnect(100)
	got := make(chan string, 1)
	tok := c.Subscribe("emergency_generator/"+gen+"/alarm", 1, func(_ mqtt.Client, m mqtt.Message) {
		if m.Retained() {
			select {
			case got <- string(m.Payload()):
			default:
			}
		}
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	select {
	case p := <-got:
		return p
	case <-time.After(10 * time.Second):
		t.Fatal("no retained alarm")
		return ""
	}
}

// checkBrokerStatus reads /status: the broker section with its listener
// and one connection, and snake_case keys throughout.
func checkBrokerStatus(t *testing.T, a *Agent) {
	t.Helper()
	resp, err := http.Get("http://" + a.HTTPAddr() + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	checkSnakeKeys(t, "status", doc)
	b, ok := doc["broker"].(map[string]any)
	if !ok {
		t.Fatalf("no broker section in /status: %v", doc)
	}
	if l, _ := b["listeners"].(map[string]any); len(l) != 1 || b["connections"] == nil || b["inflight"] == nil {
		t.Errorf("broker status %v", b)
	}
}

// TestFailedStartInBrokerMode: a stage failing after the broker's (the
// downsample, with a bad alarm rule) stops the broker that never listened:
// no goroutine is left, its port is free and the spool can be opened.
func TestFailedStartInBrokerMode(t *testing.T) {
	url, a, _ := brokerModeConfig(t)
	a.cfg.Downsample.Alarm.Op = "~"
	ignore := goleak.IgnoreCurrent()
	if err := a.Run(context.Background()); !errors.Is(err, downsample.ErrBadRule) {
		t.Fatalf("Run: %v, want the downsample's ErrBadRule", err)
	}
	goleak.VerifyNone(t, ignore)
	ln, err := net.Listen("tcp", strings.TrimPrefix(url, "tcp://"))
	if err != nil {
		t.Fatalf("broker port still bound after the failed start: %v", err)
	}
	ln.Close()
	sp, err := spool.Open(a.cfg.Spool.Path, spool.Options{})
	if err != nil {
		t.Fatalf("spool still held after the failed start: %v", err)
	}
	sp.Close()
}
