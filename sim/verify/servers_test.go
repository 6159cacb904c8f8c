package verify_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent/model"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgespool/edgespool/sim/fleet"
	"github.com/edgespool/edgespool/sim/testenv"
	"github.com/edgespool/edgespool/sim/verify"
)

// agentValue is the Kafka value the agent writes: the simulator payload
// without spaces is close enough (same keys and types).
func agentValue(r model.Reading) []byte {
	return fleet.AppendPayload(nil, r, false)
}

func readings(n int, count int) []model.Reading {
	var out []model.Reading
	for i := 1; i <= n; i++ {
		g := fleet.NewGenerator(11, i)
		for j := 0; j < count; j++ {
			out = append(out, g.Next(time.Unix(1700000000, 0).Add(time.Duration(j)*time.Second)))
		}
	}
	return out
}

func produce(t *testing.T, cl *kgo.Client, topic string, rs []model.Reading) {
	t.Helper()
	for _, r := range rs {
		rec := &kgo.Record{Topic: topic, Key: []byte(r.GeneratorID), Value: agentValue(r),
			Headers: []kgo.RecordHeader{{Key: verify.HeaderID, Value: fmt.Appendf(nil, "%s/seq/%d", r.GeneratorID, r.Seq)}}}
		if err := cl.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReadKafkaFindsLossAndReplays writes 3 generators x 50 readings into
// kfake, minus one reading and plus a replayed tail, and checks that the
// verifier reads every record back and reports exactly that.
func TestReadKafkaFindsLossAndReplays(t *testing.T) {
	k := testenv.Kafka(t)
	cl := k.Client(t, kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)), kgo.AllowAutoTopicCreation())
	rs := readings(3, 50)
	lost := rs[60] // generator2 seq 11
	send := append(append([]model.Reading{}, rs[:60]...), rs[61:]...)
	send = append(send, rs[140:145]...) // generator3 seq 41..45 replayed
	produce(t, cl, "raw", send)

	res, err := verify.ReadKafka(context.Background(), verify.KafkaOptions{Brokers: k.Addrs, Topic: "raw", Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Observations) != len(send) || res.Undecodable != 0 {
		t.Fatalf("read %d records (%d undecodable), wrote %d", len(res.Observations), res.Undecodable, len(send))
	}
	rep := verify.CheckRaw("kafka", verify.ExpectCounts(3, 50), res.Observations)
	if rep.OK() || rep.Missing != 1 || rep.Duplicates != 5 || rep.OutOfOrder != 0 || len(rep.Split) != 0 {
		t.Fatalf("report %+v", rep)
	}
	if got := rep.MissingBy[lost.GeneratorID]; len(got) != 1 || got[0].From != lost.Seq {
		t.Fatalf("missing %v, want %s seq %d", rep.MissingBy, lost.GeneratorID, lost.Seq)
	}
}

func TestReadKafkaMissingTopicIsEmpty(t *testing.T) {
	k := testenv.Kafka(t)
	res, err := verify.ReadKafka(context.Background(), verify.KafkaOptions{Brokers: k.Addrs, Topic: "nothing-here", Timeout: 10 * time.Second})
	if err != nil || len(res.Observations) != 0 {
		t.Fatalf("missing topic: %d records, %v", len(res.Observations), err)
	}
}

func lines(rs []model.Reading) string {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "genData,generatorID=%s fuel=%di,lat=%v,lon=%v,load=%di,power=%di,temperature=%di %d\n",
			r.GeneratorID, r.Fuel, r.Lat, r.Lon, r.Load, r.Power, r.Temperature, r.Time)
	}
	return b.String()
}

// TestReadInfluxAgainstLog writes raw points into InfluxDB 1.8 with one
// missing, and checks the verifier identifies readings by time through the
// published log.
func TestReadInfluxAgainstLog(t *testing.T) {
	in := testenv.Influx(t)
	in.CreateDB(t, "kafka")
	rs := readings(2, 40)
	var log strings.Builder
	lw := fleet.NewLogWriter(&log)
	for _, r := range rs {
		lw.Record(r)
	}
	lw.Flush()
	in.Write(t, "kafka", lines(append(append([]model.Reading{}, rs[:45]...), rs[46:]...)))

	obs, err := verify.ReadInflux(context.Background(), verify.InfluxOptions{URL: in.URL, DB: "kafka"})
	if err != nil {
		t.Fatal(err)
	}
	var exp verify.Expect
	if err := exp.AddLog(strings.NewReader(log.String())); err != nil {
		t.Fatal(err)
	}
	rep := verify.CheckRaw("influx", exp, obs)
	if len(obs) != 79 || rep.Missing != 1 || rep.Mismatch != 0 || rep.MissingBy["generator2"][0].From != 6 {
		t.Fatalf("%d points, report %+v", len(obs), rep)
	}
}

func TestReadInfluxDownsampledAndMissingDB(t *testing.T) {
	in := testenv.Influx(t)
	in.CreateDB(t, "kafka_downsampled")
	in.Write(t, "kafka_downsampled",
		`genData,generatorID=generator1,region=US alarm="refuel",fuel=420i,lat=1.5,lon=2.5,load=3i,power=4i,temperature=5i 1700000059000000000`+"\n")
	obs, err := verify.ReadInflux(context.Background(), verify.InfluxOptions{URL: in.URL, DB: "kafka_downsampled"})
	if err != nil || len(obs) != 1 {
		t.Fatalf("%+v, %v", obs, err)
	}
	o := obs[0]
	if o.GeneratorID != "generator1" || o.Region != "US" || o.Alarm != "refuel" || o.Fuel != 420 || o.Lat != 1.5 || o.Time != 1700000059000000000 {
		t.Fatalf("point %+v", o)
	}
	if _, err := verify.ReadInflux(context.Background(), verify.InfluxOptions{URL: in.URL, DB: "nope"}); err == nil {
		t.Fatal("missing database read without error")
	}
}
