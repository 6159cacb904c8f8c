package e2e

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/edgespool/edgespool/sim/fleet"
	"github.com/edgespool/edgespool/sim/verify"
)

// Ten SIGKILLs at random moments while 5,000 readings/s are ingested and a
// backlog from a link cut drains: after a last restart, an independent
// consumer (franz-go) finds every raw reading in Kafka exactly once. The
// Kafka forwarders store their partition offsets with the cursor and, on
// start, skip the records a killed run had written but not acknowledged;
// the intake drops what Mosquitto redelivers, also readings already
// forwarded (the spool keeps the newest delivered ones for that).
func TestKillsLeaveNoKafkaDuplicates(t *testing.T) {
	if testing.Short() {
		t.Skip("long: ten kills")
	}
	e := newEnv(t)
	a := e.newAgent(t, agentOptions{Batch: 500})
	a.start()
	f := startFleet(t, e.broker.URL, 1, fleet.Options{Generators: 10, Rate: 500, Seed: 21})
	e.cut(t)
	time.Sleep(2 * time.Second) // a backlog of ~10,000 readings
	e.restore(t)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 2))
	const kills = 10
	for i := 1; i <= kills; i++ {
		time.Sleep(200*time.Millisecond + time.Duration(rng.Int64N(int64(800*time.Millisecond))))
		a.kill()
		a.start()
	}
	exp := f.stop(t)
	a.waitDrained(f.published(), 90*time.Second)
	rep := e.verifySinks(t, exp, 2*time.Second, 30*time.Second)
	t.Logf("seed %d, %d kills, %d readings published; verifier:%s", seed, kills, f.published(), reportLine(rep))
	n, replays, where := e.identityReplays(t, verify.DefaultRawTopic)
	m := a.metrics() // of the last run: the redeliveries after the last kill
	t.Logf("last run: %v redelivered readings dropped, %v out of order",
		m["edgespool_intake_duplicates_total"], m["edgespool_intake_seq_out_of_order_total"])
	if replays != 0 {
		t.Errorf("%s: %d of %d records are duplicates of an %s after %d kills (seed %d):%s\nKafka lookups and link changes:\n%s",
			verify.DefaultRawTopic, replays, n, verify.HeaderID, kills, seed, where,
			a.logLines("kafka lookup", "not sent again", "cannot check", "link retrying", "link recovered"))
	}
	a.term()
}
