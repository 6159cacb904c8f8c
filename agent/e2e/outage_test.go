package e2e

import (
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent/model"

	"github.com/edgespool/edgespool/agent"
	"github.com/edgespool/edgespool/sim/fleet"
	"github.com/edgespool/edgespool/sim/verify"
	"github.com/edgespool/edgespool/uplink"
)

// sinkStatus returns the forwarder status of (sink, stream).
func sinkStatus(st agent.Status, sink, stream string) (uplink.ForwarderStatus, bool) {
	for _, s := range st.Sinks {
		if s.Sink == sink && s.Stream == stream {
			return s, true
		}
	}
	return uplink.ForwarderStatus{}, false
}

// downLastSeq is the downsampled stream's last sequence number.
func downLastSeq(st agent.Status) uint64 {
	for _, s := range st.Spool.Streams {
		if s.Name == model.StreamDownsampled {
			return s.LastSeq
		}
	}
	return 0
}

// outageView is what /status says about both raw forwarders while the
// links are cut.
type outageView struct {
	lag       map[string]uint64 // sink -> raw lag records
	linksDown bool              // every sink's link is retrying or down
	down      uint64            // downsampled stream's last seq
}

func viewOutage(t *testing.T, a *agentProc) outageView {
	t.Helper()
	st, err := a.status()
	if err != nil {
		t.Fatalf("status during outage: %v", err)
	}
	v := outageView{lag: map[string]uint64{}, linksDown: true, down: downLastSeq(st)}
	for _, sink := range []string{"kafka", "influx"} {
		s, ok := sinkStatus(st, sink, model.StreamRaw)
		if !ok {
			t.Fatalf("/status has no %s raw forwarder: %+v", sink, st.Sinks)
		}
		v.lag[sink] = s.LagRecords
		v.linksDown = v.linksDown && s.Link.State != uplink.LinkUp
	}
	return v
}

// Both uplinks are cut while the fleet publishes, then restored. The agent
// spools and downsamples through the outage, /status shows the backlog
// growing, and after the drain Kafka and InfluxDB hold every reading the
// broker accepted, in order per generator, with the downsampled windows.
func TestOutageThenDrain(t *testing.T) {
	e := newEnv(t)
	a := e.newAgent(t, agentOptions{})
	a.start()
	const window = 2 * time.Second
	pub := startFleet(t, e.broker.URL, 1, fleet.Options{Generators: 10, Rate: 100, Duration: 10 * time.Second, Seed: 7})

	time.Sleep(2 * time.Second)
	e.cut(t)
	cutAt := time.Now()
	var first outageView
	waitUntil(t, "both links to leave up", 10*time.Second, func() bool {
		first = viewOutage(t, a)
		return first.linksDown
	})
	time.Sleep(2500 * time.Millisecond)
	later := viewOutage(t, a)
	for _, sink := range []string{"kafka", "influx"} {
		if later.lag[sink] < first.lag[sink]+500 { // 1,000 readings/s for 2.5 s
			t.Errorf("%s raw lag in /status did not grow during the outage: %d then %d", sink, first.lag[sink], later.lag[sink])
		}
	}
	if later.down <= first.down {
		t.Errorf("downsampled stream did not grow with the links down: last seq %d then %d", first.down, later.down)
	}
	time.Sleep(time.Until(cutAt.Add(5 * time.Second)))
	e.restore(t)
	t.Logf("links cut for %v; backlog at the last look: kafka %d, influx %d raw readings",
		time.Since(cutAt).Round(100*time.Millisecond), later.lag["kafka"], later.lag["influx"])

	exp := pub.wait(t)
	restored := time.Now()
	a.waitDrained(pub.published(), 60*time.Second)
	t.Logf("drained %v after the fleet stopped", time.Since(restored).Round(100*time.Millisecond))
	rep := e.verifySinks(t, exp, window, 30*time.Second)
	t.Logf("verified %v after the fleet stopped", time.Since(restored).Round(100*time.Millisecond))
	t.Logf("published %d readings; verifier:%s", pub.published(), reportLine(rep))
	for _, topic := range []string{verify.DefaultRawTopic, verify.DefaultDownTopic} {
		n, replays := e.identityStats(t, topic)
		t.Logf("%s: %d records, %d replays identifiable by %s", topic, n, replays, verify.HeaderID)
	}
	a.term()
}

// waitUntil polls cond every 50 ms until it holds or fails t after timeout.
func waitUntil(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
