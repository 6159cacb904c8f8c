package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/edgespool/edgespool/sim/fleet"
	"github.com/edgespool/edgespool/sim/testenv"
	"github.com/edgespool/edgespool/sim/verify"
)

// powerCut is the schedule shared by broker mode and the Mosquitto
// baseline: 100 generators, one QoS 1 connection each (the fleet
// publisher resends what was not acknowledged after a reconnect), and
// kills SIGKILLs the gateway at random moments.
type powerCut struct {
	kills    int
	rate     float64 // readings per second per generator
	seed     uint64
	minUp    time.Duration
	maxUp    time.Duration
	powerOff time.Duration
}

func newPowerCut() powerCut {
	p := powerCut{kills: 20, rate: 10, seed: uint64(time.Now().UnixNano()),
		minUp: time.Second, maxUp: 3 * time.Second, powerOff: 200 * time.Millisecond}
	if n, err := strconv.Atoi(os.Getenv("EDGESPOOL_POWERCUT_KILLS")); err == nil && n > 0 {
		p.kills = n
	}
	if s, err := strconv.ParseUint(os.Getenv("EDGESPOOL_POWERCUT_SEED"), 10, 64); err == nil {
		p.seed = s
	}
	return p
}

// run publishes through url while cutting power kills times (cut, then
// restore after powerOff), then stops publishing and returns the
// expected set: every (generator, seq) a device saw acknowledged.
func (p powerCut) run(t *testing.T, url string, cut, restore func()) (verify.Expect, uint64) {
	t.Helper()
	pub := startFleet(t, url, 100, fleet.Options{Generators: 100, Rate: p.rate, Seed: p.seed})
	rng := rand.New(rand.NewPCG(p.seed, 2))
	for k := 1; k <= p.kills; k++ {
		time.Sleep(p.minUp + time.Duration(rng.Int64N(int64(p.maxUp-p.minUp))))
		cut()
		time.Sleep(p.powerOff)
		restore()
	}
	time.Sleep(2 * time.Second) // the devices reconnect and resend
	exp := pub.stop(t)
	return exp, pub.published()
}

// Broker mode under power cuts: the agent serves MQTT itself and is
// SIGKILLed at random moments 20 times while 100 devices publish at QoS 1
// and the uplinks drain, and restarted each time. Every reading a device
// saw acknowledged must reach Kafka and InfluxDB (which are fed only from
// the spool), and each generator's readings must stay in one Kafka
// partition in publish order. The devices resend what was not
// acknowledged, in order, before anything new, so a reading out of order
// there was reordered by the agent; replays (the device's resends, the
// uplink's after a kill) are duplicates the verifier tells apart, not
// reorders.
func TestPowerCutBrokerMode(t *testing.T) {
	if testing.Short() {
		t.Skip("power-cut test: about two minutes")
	}
	e := newDirectEnv(t)
	listen := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	a := e.newAgent(t, agentOptions{BrokerListen: listen})
	a.start()
	p := newPowerCut()
	t.Logf("seed %d (EDGESPOOL_POWERCUT_SEED repeats the schedule), %d kills", p.seed, p.kills)
	exp, published := p.run(t, "tcp://"+listen, a.kill, a.start)
	a.waitDrained(0, 60*time.Second)
	rep := e.waitNoLoss(t, exp, 60*time.Second)
	a.term()
	t.Logf("broker mode: %d kills, %d readings published, %d acknowledged; verifier:%s",
		p.kills, published, ackedCount(exp), reportLine(rep))
	st := lossStats(rep)
	if st.missing > 0 || st.unknown > 0 {
		t.Errorf("%d acknowledged readings missing, %d unknown readings in the sinks", st.missing, st.unknown)
	}
	for _, r := range rep.Raw {
		if r.OutOfOrder > 0 || len(r.Split) > 0 {
			t.Errorf("%s: %d readings out of order per generator (e.g. %v), %d generators split across partitions",
				r.Sink, r.OutOfOrder, r.Examples["out_of_order"], len(r.Split))
		}
	}
}

// waitNoLoss reads the sinks back until no acknowledged reading is missing
// from either, or timeout; it returns the last report for the caller to
// judge (the Mosquitto baseline loses readings: it only reports them).
func (e *env) waitNoLoss(tb testing.TB, exp verify.Expect, timeout time.Duration) verify.Report {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		rep, err := verify.Run(ctx, verify.Config{Expect: exp, Kafka: e.readOptions(""),
			Influx: verify.InfluxOptions{URL: e.influx.URL}, Down: verify.DownOptions{Window: 2 * time.Second}})
		cancel()
		if err == nil && len(rep.Raw) == 2 && lossStats(rep).missing == 0 || time.Now().After(deadline) {
			if err != nil {
				tb.Fatal(err)
			}
			return rep
		}
		time.Sleep(time.Second)
	}
}

type losses struct{ missing, unknown uint64 }

// lossStats sums missing and unknown readings over both sinks' raw
// reports.
func lossStats(rep verify.Report) losses {
	var l losses
	for _, r := range rep.Raw {
		l.missing += r.Missing
		l.unknown += uint64(r.Unknown)
	}
	return l
}

// The same schedule against Mosquitto + the agent in subscribe mode, both
// SIGKILLed together (Mosquitto restarts from its persistence file).
// Losses are expected: it measures them. EDGESPOOL_POWERCUT_MOSQUITTO=1.
func TestPowerCutMosquittoBaseline(t *testing.T) {
	if os.Getenv("EDGESPOOL_POWERCUT_MOSQUITTO") == "" {
		t.Skip("set EDGESPOOL_POWERCUT_MOSQUITTO=1 to measure the Mosquitto baseline")
	}
	e := newDirectEnv(t)
	a := e.newAgent(t, agentOptions{})
	a.start()
	p := newPowerCut()
	t.Logf("seed %d, %d kills", p.seed, p.kills)
	cut := func() { e.broker.Kill(); a.kill() }
	restore := func() { e.broker.Start(); a.start() }
	exp, published := p.run(t, e.broker.URL, cut, restore)
	time.Sleep(3 * time.Second) // Mosquitto delivers what it still holds
	a.waitDrained(0, 60*time.Second)
	rep := e.waitNoLoss(t, exp, 20*time.Second) // losses expected: stops at the deadline
	a.term()
	t.Logf("mosquitto + agent: %d kills, %d readings published, %d acknowledged by Mosquitto; verifier (acknowledged but missing per sink):%s",
		p.kills, published, ackedCount(exp), reportLine(rep))
}

func ackedCount(exp verify.Expect) uint64 {
	var n uint64
	for _, d := range exp.Devices {
		n += d.Acked
	}
	return n
}
