package uplink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent/model"

	"github.com/edgespool/edgespool/sim/testenv"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// stored is what a server holds for one record: its identity (what
// de-duplication keys on) and its content.
type stored struct {
	id string
	p  model.Point // Window and, for InfluxDB, Seq are not compared
}

// target is one Sink implementation with a way to read back what it wrote.
type target struct {
	sink     Sink
	readBack func(t *testing.T, stream string) []stored
}

// runContract is the behaviour every Sink must have.
func runContract(t *testing.T, tg target) {
	ctx := context.Background()
	raw := rawRecords(300, 3)
	down := downRecords(12, 3)
	var rawMsgs, downMsgs []Message
	for i, r := range raw {
		r.Seq = uint64(i + 1)
		rawMsgs = append(rawMsgs, Message(r))
	}
	for i, r := range down {
		r.Seq = uint64(i + 1)
		downMsgs = append(downMsgs, Message(r))
	}

	t.Run("empty batch", func(t *testing.T) {
		if err := tg.sink.Send(ctx, nil); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("round trip", func(t *testing.T) {
		if err := tg.sink.Send(ctx, rawMsgs); err != nil {
			t.Fatal(err)
		}
		if err := tg.sink.Send(ctx, downMsgs); err != nil {
			t.Fatal(err)
		}
		checkStored(t, tg.readBack(t, model.StreamRaw), rawMsgs, 1)
		checkStored(t, tg.readBack(t, model.StreamDownsampled), downMsgs, 1)
	})
	t.Run("replay is harmless", func(t *testing.T) {
		if err := tg.sink.Send(ctx, rawMsgs[100:200]); err != nil {
			t.Fatal(err)
		}
		checkStored(t, tg.readBack(t, model.StreamRaw), rawMsgs, 2)
	})
	t.Run("bad payload rejected with its index", func(t *testing.T) {
		bad := append([]Message(nil), rawMsgs[:10]...)
		bad[4].Value = bad[4].Value[:7]
		err := tg.sink.Send(ctx, bad)
		if i, ok := IndexOf(err); !IsRejected(err) || !ok || i != 4 {
			t.Fatalf("err %v (index %d %v), want a rejection of message 4", err, i, ok)
		}
	})
	t.Run("unknown stream rejected", func(t *testing.T) {
		m := rawMsgs[0]
		m.Stream = "nosuchstream"
		if err := tg.sink.Send(ctx, []Message{m}); !IsRejected(err) {
			t.Fatalf("err %v, want a rejection", err)
		}
	})
	t.Run("cancelled send is no rejection", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		err := tg.sink.Send(cctx, rawMsgs[:5])
		if err == nil || IsRejected(err) || !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v, want context.Canceled, not a rejection", err)
		}
	})
}

// checkStored checks that got holds every message of want with its
// content, and that each identity appears at most maxCopies times.
func checkStored(t *testing.T, got []stored, want []Message, maxCopies int) {
	t.Helper()
	byID := map[string][]model.Point{}
	for _, s := range got {
		byID[s.id] = append(byID[s.id], s.p)
	}
	for _, m := range want {
		it, err := decode(m)
		if err != nil {
			t.Fatal(err)
		}
		id := string(appendIdentity(nil, it))
		copies := byID[id]
		if len(copies) == 0 {
			id = fmt.Sprintf("%s@%d", it.GeneratorID, it.Time) // servers without identity
			copies = byID[id]
		}
		if len(copies) == 0 || len(copies) > maxCopies {
			t.Fatalf("%s: %d copies stored, want 1..%d", id, len(copies), maxCopies)
		}
		for _, c := range copies {
			if !sameContent(c, it.Point, it.down) {
				t.Fatalf("%s: stored %+v, want %+v", id, c, it.Point)
			}
		}
	}
}

func sameContent(got, want model.Point, down bool) bool {
	g, w := got, want
	g.Window, w.Window, g.Stamped, w.Stamped = 0, 0, false, false
	if got.Seq == 0 { // InfluxDB keeps no seq
		w.Seq = 0
	}
	if !down {
		w.Alarm, w.Region = "", ""
	}
	return reflect.DeepEqual(g, w)
}

func TestContractMem(t *testing.T) {
	s := &memSink{name: "mem"}
	runContract(t, target{sink: s, readBack: func(t *testing.T, stream string) []stored {
		var out []stored
		for _, m := range s.received() {
			if m.Stream == stream {
				it, _ := decode(m)
				out = append(out, stored{id: string(appendIdentity(nil, it)), p: it.Point})
			}
		}
		return out
	}})
}

// kafkaTopics creates the default topics (3 partitions): the sink does not
// create topics by default.
func kafkaTopics(t *testing.T, k *testenv.KafkaCluster, configs map[string]*string) {
	t.Helper()
	adm := kadm.NewClient(k.Client(t))
	_, err := adm.CreateTopics(context.Background(), 3, 1, configs, DefaultRawTopic, DefaultDownsampledTopic)
	if err != nil {
		t.Fatal(err)
	}
}

// contractKafka runs the contract against Kafka on k (the real-server
// tests share one cluster).
func contractKafka(t *testing.T, k *testenv.KafkaCluster) {
	kafkaTopics(t, k, nil)
	s, err := NewKafka(KafkaOptions{Brokers: k.Addrs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	runContract(t, target{sink: s, readBack: func(t *testing.T, stream string) []stored {
		topic := map[string]string{model.StreamRaw: DefaultRawTopic, model.StreamDownsampled: DefaultDownsampledTopic}[stream]
		return kafkaStored(t, k.Consume(t, topic))
	}})
}

// kafkaStored decodes records read back with kgo, checking the headers and
// that the partition is the one Java's default partitioner picks.
func kafkaStored(t *testing.T, recs []*kgo.Record) []stored {
	t.Helper()
	java := kgo.StickyKeyPartitioner(nil).ForTopic("")
	var out []stored
	for _, r := range recs {
		var v jsonValue
		if err := json.Unmarshal(r.Value, &v); err != nil {
			t.Fatalf("value %s: %v", r.Value, err)
		}
		ts, err := time.Parse(time.RFC3339Nano, v.Time)
		if err != nil {
			t.Fatal(err)
		}
		p := model.Point{Reading: model.Reading{GeneratorID: v.GeneratorID, Time: ts.UnixNano(), Seq: v.Seq,
			Lat: v.Lat, Lon: v.Lon, Temperature: v.Temperature, Power: v.Power, Load: v.Load, Fuel: v.Fuel}}
		if v.Alarm != nil {
			p.Alarm, p.Region = *v.Alarm, *v.Region
		}
		if string(r.Key) != v.GeneratorID {
			t.Fatalf("key %q for generator %q", r.Key, v.GeneratorID)
		}
		if want := int32(java.Partition(r, 3)); r.Partition != want {
			t.Fatalf("key %q in partition %d, Java's partitioner picks %d", r.Key, r.Partition, want)
		}
		out = append(out, stored{id: header(r, HeaderID), p: p})
	}
	return out
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// contractInflux runs the contract against InfluxDB 1.8 on in.
func contractInflux(t *testing.T, in *testenv.InfluxServer) {
	in.CreateDB(t, DefaultRawBucket)
	in.CreateDB(t, DefaultDownsampledBucket)
	s, err := NewInflux(InfluxOptions{URL: in.URL, BatchPoints: 64}) // several requests per Send
	if err != nil {
		t.Fatal(err)
	}
	runContract(t, target{sink: s, readBack: func(t *testing.T, stream string) []stored {
		db := map[string]string{model.StreamRaw: DefaultRawBucket, model.StreamDownsampled: DefaultDownsampledBucket}[stream]
		return influxStored(t, in.Query(t, db, "SELECT * FROM genData GROUP BY *"))
	}})
}

// influxStored decodes an InfluxQL result; its identity is series + time,
// what InfluxDB itself keys points on.
func influxStored(t *testing.T, series []testenv.Series) []stored {
	t.Helper()
	var out []stored
	for _, s := range series {
		for _, row := range s.Values {
			var p model.Point
			p.GeneratorID, p.Region = s.Tags["generatorID"], s.Tags["region"]
			for i, c := range s.Columns {
				setField(t, &p, c, row[i])
			}
			out = append(out, stored{id: fmt.Sprintf("%s@%d", p.GeneratorID, p.Time), p: p})
		}
	}
	return out
}

func setField(t *testing.T, p *model.Point, col string, v any) {
	t.Helper()
	if v == nil {
		return
	}
	if col == "alarm" {
		p.Alarm = v.(string)
		return
	}
	n, ok := v.(json.Number)
	if !ok {
		t.Fatalf("column %s: %T %v", col, v, v)
	}
	i, ierr := strconv.ParseInt(string(n), 10, 64)
	f, _ := n.Float64()
	isInt := ierr == nil
	switch col {
	case "time":
		p.Time = i
	case "lat":
		p.Lat = f
	case "lon":
		p.Lon = f
	case "fuel", "load", "power", "temperature":
		if !isInt {
			t.Fatalf("field %s = %s is not an integer", col, n)
		}
		*map[string]*int64{"fuel": &p.Fuel, "load": &p.Load, "power": &p.Power, "temperature": &p.Temperature}[col] = i
	}
}
