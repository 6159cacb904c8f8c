package verify_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent/model"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgespool/edgespool/sim/testenv"
	"github.com/edgespool/edgespool/sim/verify"
)

// downValue is a downsampled Kafka value as the agent writes it.
func downValue(r model.Reading, alarm string) []byte {
	v := agentValue(r)
	w := time.Unix(0, r.Time).Truncate(time.Minute).UTC().Format(time.RFC3339Nano)
	return append(v[:len(v)-1], []byte(`, "alarm": "`+alarm+`", "region": "US", "window": "`+w+`"}`)...)
}

// lastPerMinute returns each minute's last reading of an in-order stream.
func lastPerMinute(rs []model.Reading) []model.Reading {
	var out []model.Reading
	for i, r := range rs {
		last := i+1 == len(rs) || rs[i+1].GeneratorID != r.GeneratorID ||
			rs[i+1].Time/int64(time.Minute) != r.Time/int64(time.Minute)
		if last {
			out = append(out, r)
		}
	}
	return out
}

func TestRunKafkaRawAndDownsampled(t *testing.T) {
	k := testenv.Kafka(t)
	cl := k.Client(t, kgo.AllowAutoTopicCreation())
	rs := readings(2, 200) // 1 s apart: 4 minutes each
	produce(t, cl, verify.DefaultRawTopic, rs)
	points := lastPerMinute(rs)
	for i, p := range points {
		alarm := verify.ExpectedAlarm(p.Fuel)
		if i == 1 {
			alarm = "bogus"
		}
		rec := &kgo.Record{Topic: verify.DefaultDownTopic, Key: []byte(p.GeneratorID), Value: downValue(p, alarm)}
		if err := cl.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := verify.Run(context.Background(), verify.Config{
		Expect: verify.ExpectCounts(2, 200),
		Kafka:  verify.KafkaOptions{Brokers: k.Addrs, Timeout: 30 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	rep.WriteText(&out)
	if !rep.Raw[0].OK() || rep.Down[0].Wrong != 1 || rep.OK() || !strings.Contains(out.String(), "FAIL") {
		t.Fatalf("report:\n%s", out.String())
	}
	if d := rep.Down[0]; d.Windows != len(points) || d.Missing != 0 {
		t.Fatalf("downsampled report %+v", d)
	}
}

func TestRunNeedsASink(t *testing.T) {
	if _, err := verify.Run(context.Background(), verify.Config{}); err == nil {
		t.Fatal("Run without sinks succeeded")
	}
}
