package e2e

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgespool/edgespool/sim/verify"
)

// verifySinks reads Kafka and InfluxDB back with the verifier until every
// check passes, and fails tb with the verifier's report after timeout.
// It also requires at least one downsampled point per sink and no
// duplicate point in InfluxDB (identity headers: see identityStats).
func (e *env) verifySinks(tb testing.TB, exp verify.Expect, window, timeout time.Duration) verify.Report {
	tb.Helper()
	cfg := verify.Config{Expect: exp,
		Kafka:  e.readOptions(""),
		Influx: verify.InfluxOptions{URL: e.influx.URL},
		Down:   verify.DownOptions{Window: window}}
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		rep, err := verify.Run(ctx, cfg)
		cancel()
		problem := ""
		switch {
		case err != nil:
			problem = err.Error()
		case !rep.OK():
			problem = "verification failed"
		case len(rep.Down) != 2:
			problem = "no downsampled report"
		}
		for _, d := range rep.Down {
			if problem == "" && d.Points == 0 {
				problem = d.Sink + ": no downsampled points"
			}
		}
		for _, r := range rep.Raw { // a replayed point overwrites itself
			if problem == "" && strings.HasPrefix(r.Sink, "influxdb") && r.Duplicates > 0 {
				problem = fmt.Sprintf("%s: %d duplicate points", r.Sink, r.Duplicates)
			}
		}
		if problem == "" {
			return rep
		}
		tb.Logf("verify: %s; again in 1s", problem)
		if time.Now().After(deadline) {
			var b strings.Builder
			rep.WriteText(&b)
			tb.Fatalf("sinks after %v: %s\n%s", timeout, problem, b.String())
		}
		time.Sleep(time.Second)
	}
}

// readOptions are the verifier's Kafka settings. A short fetch wait: the
// reader stops at the end offsets, and a fetch that finds a partition at
// its end would otherwise wait the default 5 s for more.
func (e *env) readOptions(topic string) verify.KafkaOptions {
	return verify.KafkaOptions{Brokers: e.kafka.Addrs, Topic: topic, Logger: quietLogger(),
		Opts: []kgo.Opt{kgo.FetchMaxWait(100 * time.Millisecond)}}
}

// identityStats reads a Kafka topic and checks that every record carries
// the edgespool-id header; it returns the records and how many repeat an
// identity already seen (replays a consumer drops by that header).
func (e *env) identityStats(tb testing.TB, topic string) (records, replays int) {
	records, replays, _ = e.identityReplays(tb, topic)
	return records, replays
}

// identityReplays is identityStats that also describes where the replays
// are: runs of consecutive offsets per partition, each with the offsets
// of the records it repeats.
func (e *env) identityReplays(tb testing.TB, topic string) (records, replays int, where string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := verify.ReadKafka(ctx, e.readOptions(topic))
	if err != nil {
		tb.Fatalf("read %s: %v", topic, err)
	}
	first := map[string]int64{} // identity -> offset of its first record
	var runs replayRuns
	for _, o := range res.Observations {
		if o.ID == "" {
			tb.Fatalf("%s partition %d offset %d: no %s header", topic, o.Partition, o.Offset, verify.HeaderID)
		}
		if orig, ok := first[o.ID]; ok {
			replays++
			runs.add(o.Partition, o.Offset, orig)
			continue
		}
		first[o.ID] = o.Offset
	}
	if res.Undecodable > 0 {
		tb.Fatalf("%s: %d undecodable records", topic, res.Undecodable)
	}
	return len(res.Observations), replays, runs.String()
}

// replayRuns groups replayed records into runs of consecutive offsets of
// one partition.
type replayRuns []replayRun

type replayRun struct {
	partition        int32
	from, to         int64 // offsets of the replays
	origFrom, origTo int64 // offsets of the records they repeat
}

func (rs *replayRuns) add(partition int32, offset, orig int64) {
	for i := range *rs {
		r := &(*rs)[i]
		if r.partition == partition && r.to+1 == offset {
			r.to, r.origFrom, r.origTo = offset, min(r.origFrom, orig), max(r.origTo, orig)
			return
		}
	}
	*rs = append(*rs, replayRun{partition, offset, offset, orig, orig})
}

func (rs replayRuns) String() string {
	var b strings.Builder
	for i, r := range rs {
		if i == 20 {
			fmt.Fprintf(&b, "\n  ... %d more runs", len(rs)-i)
			break
		}
		fmt.Fprintf(&b, "\n  partition %d offsets %d-%d repeat %d-%d", r.partition, r.from, r.to, r.origFrom, r.origTo)
	}
	return b.String()
}

// reportLine summarises a verifier report, one line per sink.
func reportLine(rep verify.Report) string {
	var b strings.Builder
	for _, r := range rep.Raw {
		fmt.Fprintf(&b, "\n  %s: %d records, %d unique, %d duplicates, %d missing, %d out of order",
			r.Sink, r.Records, r.Unique, r.Duplicates, r.Missing, r.OutOfOrder)
	}
	for _, d := range rep.Down {
		fmt.Fprintf(&b, "\n  %s: %d points, %d windows, %d missing, %d pending, %d duplicates, %d refuel, %d no action",
			d.Sink, d.Points, d.Windows, d.Missing, d.Pending, d.Duplicates, d.Alarms[verify.AlarmRefuel], d.Alarms[verify.AlarmNoAction])
	}
	return b.String()
}

func TestHistP50Interpolates(t *testing.T) {
	name := "d_seconds"
	bucket := func(le string) string { return name + `_bucket{le="` + le + `"}` }
	m0 := map[string]float64{bucket("0.1"): 10, bucket("0.2"): 10, bucket("+Inf"): 10}
	m1 := map[string]float64{bucket("0.1"): 30, bucket("0.2"): 110, bucket("+Inf"): 110}
	// 100 new observations: 20 up to 100 ms, 80 in (100, 200] ms; the 50th
	// is 30/80 of the way into the second bucket.
	if got := histP50(m0, m1, name, ""); got != "138 ms" {
		t.Fatalf("p50 %s, want 138 ms", got)
	}
	if got := histP50(m0, m0, name, ""); got != "n/a" {
		t.Fatalf("p50 of nothing: %s", got)
	}
}

func TestLineGenAndTimeAgreesWithTheDecoder(t *testing.T) {
	var enc lineprotocol.Encoder
	enc.SetPrecision(lineprotocol.Nanosecond)
	for i, gen := range []string{"generator7", "generator12345", "pump3"} {
		enc.StartLine("genData")
		enc.AddTag("generatorID", gen)
		enc.AddField("fuel", lineprotocol.IntValue(int64(900-i)))
		lat, _ := lineprotocol.FloatValue(40.7)
		enc.AddField("lat", lat)
		enc.EndLine(time.Unix(1_700_000_000, int64(123456789+i)))
	}
	if err := enc.Err(); err != nil {
		t.Fatal(err)
	}
	dec := lineprotocol.NewDecoderWithBytes(enc.Bytes())
	for _, line := range bytes.Split(bytes.TrimSpace(enc.Bytes()), []byte("\n")) {
		if !dec.Next() {
			t.Fatal("decoder ended early")
		}
		_, _ = dec.Measurement()
		var id string
		for {
			k, v, err := dec.NextTag()
			if err != nil || k == nil {
				break
			}
			id = string(v)
		}
		for {
			k, _, err := dec.NextField()
			if err != nil || k == nil {
				break
			}
		}
		ts, err := dec.Time(lineprotocol.Nanosecond, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		gen, ev, ok := lineGenAndTime(line)
		wantOK := strings.HasPrefix(id, "generator")
		if ok != wantOK || (ok && (fmt.Sprint("generator", gen) != id || ev != ts.UnixNano())) {
			t.Errorf("%s: got %d %d %v, decoder says %s %d", line, gen, ev, ok, id, ts.UnixNano())
		}
	}
}

func TestDigitsRejectsWhatIsNotAnInt64(t *testing.T) {
	for in, want := range map[string]bool{"0": true, "9223372036854775807": true,
		"9223372036854775808": false, "": false, "12a": false, "-1": false} {
		if _, ok := digits([]byte(in)); ok != want {
			t.Errorf("digits(%q) ok=%v, want %v", in, ok, want)
		}
	}
}
