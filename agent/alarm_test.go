package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgespool/edgespool/sim/testenv"
)

// runAlarmAgent runs an agent on broker with one-second windows, and
// publishes two readings of one generator so that its first window closes
// and its alarm is published. It returns the agent and its log.
func runAlarmAgent(t *testing.T, b *testenv.Broker) (*Agent, *logBuffer) {
	t.Helper()
	cfg := testConfig(t, b.URL)
	cfg.Downsample.Enabled = true
	cfg.Downsample.Window, cfg.Downsample.AllowedLateness, cfg.Downsample.IdleGrace = time.Second, 0, time.Second
	logs := &logBuffer{}
	a := New(cfg, testLogger(logs))
	runAgent(t, a)
	testenv.WaitFor(t, 15*time.Second, func() bool { return a.Ready() == nil })
	pub := testPublisher(t, b.URL, "pub-alarm")
	at := time.Now().Truncate(time.Second)
	publishReading(t, pub, "generator7", 1, at)
	publishReading(t, pub, "generator7", 2, at.Add(2*time.Second))
	return a, logs
}

// TestAlarmDeniedByBrokerIsUnconfirmed: Mosquitto's ACL lets the agent read
// but not write the alarm topics; it acknowledges the QoS 1 publication and
// drops it. The agent must notice (the alarm never comes back), count it
// unconfirmed, log it and keep retrying.
func TestAlarmDeniedByBrokerIsUnconfirmed(t *testing.T) {
	acl := filepath.Join(t.TempDir(), "acl")
	rules := "topic readwrite emergency_generator/+\ntopic read emergency_generator/+/alarm\n"
	if err := os.WriteFile(acl, []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	b := testenv.Mosquitto(t, testenv.BrokerConfig("acl_file "+acl))
	a, logs := runAlarmAgent(t, b)
	testenv.WaitFor(t, 30*time.Second, func() bool {
		n, _ := a.counterSum("edgespool_downsample_alarm_unconfirmed_total")
		return n >= 2 // the first attempt and at least one retry
	})
	if n, _ := a.counterSum("edgespool_downsample_alarm_confirmed_total"); n != 0 {
		t.Errorf("%v alarms counted confirmed through a denying ACL", n)
	}
	if st := a.Status().Alarms; st == nil || len(st.Pending) != 1 || st.Pending[0] != "generator7" {
		t.Errorf("status alarms %+v, want generator7 unconfirmed", st)
	}
	if !strings.Contains(logs.String(), "alarm not confirmed by the broker") {
		t.Errorf("no log line for the unconfirmed alarm:\n%s", logs)
	}
}

// TestAlarmAllowedIsConfirmed is the control: without the ACL the alarm
// comes back and is counted confirmed.
func TestAlarmAllowedIsConfirmed(t *testing.T) {
	b := testenv.Mosquitto(t)
	a, _ := runAlarmAgent(t, b)
	testenv.WaitFor(t, 30*time.Second, func() bool {
		n, _ := a.counterSum("edgespool_downsample_alarm_confirmed_total")
		return n >= 1
	})
	if n, _ := a.counterSum("edgespool_downsample_alarm_unconfirmed_total"); n != 0 {
		t.Errorf("%v alarms unconfirmed without an ACL", n)
	}
}
