package verify

import (
	"bytes"
	"strconv"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent/model"

	"github.com/edgespool/edgespool/sim/fleet"
)

// stream builds observations for generator i with the given seqs, all in
// partition part, keyed and identified as the agent does.
func stream(i int, part int32, seqs ...uint64) []Observation {
	var out []Observation
	id := fleet.ID(i)
	for n, s := range seqs {
		out = append(out, Observation{
			Reading:   model.Reading{GeneratorID: id, Seq: s, Time: int64(s) * 1e9},
			Partition: part, Offset: int64(n), Key: id,
			ID: id + "/seq/" + itoa(s),
		})
	}
	return out
}

func itoa(s uint64) string { return strconv.FormatUint(s, 10) }

func seqs(from, to uint64) []uint64 {
	var out []uint64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

func TestCheckRawComplete(t *testing.T) {
	obs := append(stream(1, 0, seqs(1, 100)...), stream(2, 1, seqs(1, 100)...)...)
	r := CheckRaw("kafka", ExpectCounts(2, 100), obs)
	if !r.OK() || r.Unique != 200 || r.Duplicates != 0 {
		t.Fatalf("complete stream judged %+v", r)
	}
}

func TestCheckRawFindings(t *testing.T) {
	tests := []struct {
		name  string
		obs   []Observation
		check func(RawReport) bool
	}{
		{"loss as ranges", stream(1, 0, append(seqs(1, 9), append(seqs(15, 19), 21)...)...),
			func(r RawReport) bool {
				return !r.OK() && r.Missing == 6+3 && formatRanges(r.MissingBy["generator1"], 10) == "10-14, 20, 22-24"
			}},
		{"replay duplicates are not disorder", stream(1, 0, append(seqs(1, 20), seqs(15, 24)...)...),
			func(r RawReport) bool { return r.OK() && r.Duplicates == 6 && r.Unique == 24 }},
		{"disorder", stream(1, 0, append(append(seqs(1, 10), 12, 11), seqs(13, 24)...)...),
			func(r RawReport) bool { return !r.OK() && r.OutOfOrder == 1 && r.Missing == 0 }},
		{"split across partitions", append(stream(1, 0, seqs(1, 12)...), stream(1, 2, seqs(13, 24)...)...),
			func(r RawReport) bool { return !r.OK() && len(r.Split) == 1 }},
		{"unknown generator and seq", append(stream(1, 0, seqs(1, 25)...), stream(9, 0, 1)...),
			func(r RawReport) bool { return !r.OK() && r.Unknown == 1 && r.Other == 1 }},
		{"other generators are ignored", append(stream(1, 0, seqs(1, 24)...), stream(9, 0, 1, 2)...),
			func(r RawReport) bool { return r.OK() && r.Other == 2 }},
		{"bad key", func() []Observation {
			o := stream(1, 0, seqs(1, 24)...)
			o[3].Key = "generator2"
			return o
		}(), func(r RawReport) bool { return !r.OK() && r.BadKey == 1 }},
		{"bad identity", func() []Observation {
			o := stream(1, 0, seqs(1, 24)...)
			o[3].ID = "generator1/seq/99"
			return o
		}(), func(r RawReport) bool { return !r.OK() && r.BadID == 1 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := CheckRaw("kafka", ExpectCounts(1, 24), tc.obs)
			if !tc.check(r) {
				t.Fatalf("report %+v", r)
			}
			checkExampleKinds(t, r, r.Examples)
		})
	}
}

func TestCheckRawUnackedMayBeMissing(t *testing.T) {
	exp := Expect{Devices: map[string]Device{"generator1": {Acked: 8, Published: 10}}}
	r := CheckRaw("kafka", exp, stream(1, 0, seqs(1, 9)...))
	if !r.OK() || r.Unacked != 1 {
		t.Fatalf("report %+v", r)
	}
	r = CheckRaw("kafka", exp, stream(1, 0, seqs(1, 7)...))
	if r.OK() || r.Missing != 1 {
		t.Fatalf("acknowledged seq 8 lost but report %+v", r)
	}
}

// TestCheckRawByTimeFromLog checks a sink without seq (InfluxDB): readings
// are identified by time through the published log, and values compared.
func TestCheckRawByTimeFromLog(t *testing.T) {
	var log bytes.Buffer
	lw := fleet.NewLogWriter(&log)
	g := fleet.NewGenerator(1, 1)
	var rs []model.Reading
	for i := 0; i < 30; i++ {
		r := g.Next(time.Unix(1700000000+int64(i), 0))
		rs = append(rs, r)
		lw.Record(r)
	}
	lw.Flush()
	var exp Expect
	if err := exp.AddLog(&log); err != nil {
		t.Fatal(err)
	}
	var obs []Observation
	for i, r := range rs {
		if i == 7 {
			continue // lost
		}
		r.Seq = 0
		if i == 3 {
			r.Fuel++ // corrupted
		}
		obs = append(obs, Observation{Reading: r, Partition: -1})
	}
	rep := CheckRaw("influx", exp, obs)
	if rep.OK() || rep.Missing != 1 || rep.Mismatch != 1 || formatRanges(rep.MissingBy["generator1"], 3) != "8" {
		t.Fatalf("report %+v", rep)
	}
}

func TestCheckRawCountOnly(t *testing.T) {
	var obs []Observation
	for i := 0; i < 7; i++ {
		obs = append(obs, Observation{Reading: model.Reading{GeneratorID: "generator1", Time: int64(i)}, Partition: -1})
	}
	rep := CheckRaw("influx", ExpectCounts(1, 10), obs)
	if rep.OK() || rep.ShortBy["generator1"] != 3 {
		t.Fatalf("report %+v", rep)
	}
}

// A Device with From judges only its slice of the run.
func TestCheckRawFrom(t *testing.T) {
	exp := Expect{Devices: map[string]Device{fleet.ID(1): {From: 11, Acked: 20, Published: 22}}}
	r := CheckRaw("kafka", exp, stream(1, 0, append(seqs(11, 14), seqs(17, 21)...)...))
	if r.Missing != 2 || formatRanges(r.MissingBy["generator1"], 5) != "15-16" || r.Unacked != 1 || r.Unique != 9 {
		t.Fatalf("slice judged %+v", r)
	}
}
