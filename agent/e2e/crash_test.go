package e2e

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent/model"

	"github.com/edgespool/edgespool/sim/fleet"
	"github.com/edgespool/edgespool/sim/testenv"
	"github.com/edgespool/edgespool/sim/verify"
)

// A backlog is spooled with both links cut; the links come back slow
// (bandwidth-limited) and the agent is killed with SIGKILL at random
// moments of the drain, several times, while a second fleet keeps
// publishing. After a last restart nothing the broker accepted is missing
// in Kafka or InfluxDB, order per generator holds, and the replays a kill
// made are identifiable by their edgespool-id header.
func TestKillDuringDrain(t *testing.T) {
	e := newEnv(t)
	a := e.newAgent(t, agentOptions{Batch: 500})
	a.start()
	e.cut(t)
	backlogFleet := startFleet(t, e.broker.URL, 1, fleet.Options{Generators: 10, Rate: 200, Duration: 3 * time.Second, Seed: 11})
	exp := backlogFleet.wait(t)
	spooled := backlogFleet.published()
	a.waitSpooled(spooled, 30*time.Second)

	for _, p := range []*testenv.Proxy{e.kafkaLink, e.influxLink} {
		p.Bandwidth(t, 60) // KB/s each way: the drain takes over 10 s
	}
	e.restore(t)
	live := startFleet(t, e.broker.URL, 1, fleet.Options{Generators: 4, First: 101, Rate: 20, Seed: 12})

	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 1))
	const rounds = 5
	killedMidDrain := 0
	for round := 1; round <= rounds; round++ {
		time.Sleep(300*time.Millisecond + time.Duration(rng.Int64N(int64(700*time.Millisecond))))
		st, err := a.status()
		a.kill()
		if err != nil {
			t.Fatalf("round %d: status before kill: %v", round, err)
		}
		n, _ := backlog(st)
		k, _ := sinkStatus(st, "kafka", model.StreamRaw)
		i, _ := sinkStatus(st, "influx", model.StreamRaw)
		t.Logf("round %d: SIGKILL with backlog %d (kafka raw cursor %d lag %d, influx raw cursor %d lag %d)",
			round, n, k.Cursor, k.LagRecords, i.Cursor, i.LagRecords)
		if max(k.LagRecords, i.LagRecords) > 100 { // more than the live trickle
			killedMidDrain++
		}
		a.start()
	}
	if killedMidDrain < 3 {
		t.Errorf("only %d of %d kills landed during the drain (seed %d): the drain is too fast for this test",
			killedMidDrain, rounds, seed)
	}
	for _, p := range []*testenv.Proxy{e.kafkaLink, e.influxLink} {
		for _, toxic := range []string{"bandwidth_downstream", "bandwidth_upstream"} {
			if err := p.RemoveToxic(toxic); err != nil {
				t.Fatalf("remove %s: %v", toxic, err)
			}
		}
	}
	time.Sleep(time.Second) // live readings after the last restart
	liveExp := live.stop(t)
	total := spooled + live.published()
	a.waitDrained(total, 60*time.Second)
	rep := e.verifySinks(t, mergeExpect(exp, liveExp), 2*time.Second, 30*time.Second)
	t.Logf("seed %d, %d kills, %d readings published; verifier:%s", seed, rounds, total, reportLine(rep))
	for _, topic := range []string{verify.DefaultRawTopic, verify.DefaultDownTopic} {
		n, replays := e.identityStats(t, topic)
		t.Logf("%s: %d records, %d replays identifiable by %s", topic, n, replays, verify.HeaderID)
	}
	a.term()
}

// mergeExpect adds b's generators (disjoint from a's) to a.
func mergeExpect(a, b verify.Expect) verify.Expect {
	if a.Devices == nil {
		a.Devices = map[string]verify.Device{}
	}
	if a.Readings == nil {
		a.Readings = map[string]map[uint64]model.Reading{}
	}
	for id, d := range b.Devices {
		a.Devices[id] = d
	}
	for id, r := range b.Readings {
		a.Readings[id] = r
	}
	return a
}
