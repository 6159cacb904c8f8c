package verify

import (
	"fmt"
	"io"
	"sort"

	"github.com/edgespool/edgespool/agent/model"

	"github.com/edgespool/edgespool/sim/fleet"
)

// Device is what one generator is expected to have delivered: every seq in
// 1..Acked must arrive; seqs in Acked+1..Published may arrive (they were
// sent but not acknowledged when the simulator stopped). From, when above
// 1, starts the expected range there instead (to judge a slice of a run).
type Device struct {
	Acked, Published uint64
	From             uint64
}

// Expect is the expected set: per generator, its seq range and, when a
// published log was loaded, the readings themselves (by seq).
type Expect struct {
	Devices  map[string]Device
	Readings map[string]map[uint64]model.Reading
}

// ExpectCounts expects generators 1..n with seq 1..count each.
func ExpectCounts(n int, count uint64) Expect {
	e := Expect{Devices: map[string]Device{}}
	for i := 1; i <= n; i++ {
		e.Devices[fleet.ID(i)] = Device{Acked: count, Published: count}
	}
	return e
}

// ExpectSummary expects what a simulator run summary reports.
func ExpectSummary(s fleet.Summary) Expect {
	e := Expect{Devices: map[string]Device{}}
	for _, d := range s.Devices {
		e.Devices[d.ID] = Device{Acked: d.Acked, Published: d.Published}
	}
	return e
}

// AddLog loads a published log (fleet.LogWriter format). Generators the
// expected set does not know yet are added with the log's highest seq as
// both Acked and Published.
func (e *Expect) AddLog(r io.Reader) error {
	if e.Devices == nil {
		e.Devices = map[string]Device{}
	}
	if e.Readings == nil {
		e.Readings = map[string]map[uint64]model.Reading{}
	}
	known := make(map[string]bool, len(e.Devices))
	for id := range e.Devices {
		known[id] = true
	}
	err := fleet.ReadLog(r, func(rd model.Reading) error {
		m := e.Readings[rd.GeneratorID]
		if m == nil {
			m = map[uint64]model.Reading{}
			e.Readings[rd.GeneratorID] = m
		}
		m[rd.Seq] = rd
		if d := e.Devices[rd.GeneratorID]; !known[rd.GeneratorID] && rd.Seq > d.Published {
			e.Devices[rd.GeneratorID] = Device{Acked: rd.Seq, Published: rd.Seq}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("expected set: %w", err)
	}
	return nil
}

// SeqByTime returns, per generator, the seq of each logged event time, to
// identify readings from sinks that do not store seq (InfluxDB).
func (e Expect) SeqByTime() map[string]map[int64]uint64 { return e.seqByTime() }

func (e Expect) seqByTime() map[string]map[int64]uint64 {
	out := make(map[string]map[int64]uint64, len(e.Readings))
	for id, rs := range e.Readings {
		m := make(map[int64]uint64, len(rs))
		for seq, r := range rs {
			m[r.Time] = seq
		}
		out[id] = m
	}
	return out
}

// ids returns the expected generator ids, sorted naturally.
func (e Expect) ids() []string {
	ids := make([]string, 0, len(e.Devices))
	for id := range e.Devices {
		ids = append(ids, id)
	}
	sortIDs(ids)
	return ids
}

// sortIDs sorts generator ids by length then text, so generator2 comes
// before generator10.
func sortIDs(ids []string) {
	sort.Slice(ids, func(i, j int) bool {
		if len(ids[i]) != len(ids[j]) {
			return len(ids[i]) < len(ids[j])
		}
		return ids[i] < ids[j]
	})
}
