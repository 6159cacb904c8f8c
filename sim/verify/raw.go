package verify

import (
	"fmt"
	"strconv"

	"github.com/edgespool/edgespool/agent/model"
)

// Observation is one record read back from a sink.
type Observation struct {
	model.Reading // Seq is 0 when the sink does not store it

	Partition int32  // Kafka partition; -1 for sinks without partitions
	Offset    int64  // Kafka offset
	Key       string // Kafka record key
	ID        string // Kafka identity header (edgespool-id), if any

	// Downsampled points only.
	Alarm, Region string
	Window        int64 // window start, Unix ns, when HasWindow
	HasWindow     bool
}

// maxExamples bounds the examples kept per finding.
const maxExamples = 5

// RawReport is the result of CheckRaw for one sink.
type RawReport struct {
	Sink       string              `json:"sink"`
	Records    int                 `json:"records"`
	Unique     int                 `json:"unique"`
	Duplicates int                 `json:"duplicates"`
	Missing    uint64              `json:"missing"`
	MissingBy  map[string][]Range  `json:"missing_by,omitempty"`
	ShortBy    map[string]uint64   `json:"short_by,omitempty"`  // count-only generators (no seq, no log)
	Unacked    uint64              `json:"unacked_not_arrived"` // sent, never acknowledged, absent: allowed
	OutOfOrder int                 `json:"out_of_order"`
	Split      []string            `json:"split_across_partitions,omitempty"`
	Unknown    int                 `json:"unknown"`        // seq never published by an expected generator
	Other      int                 `json:"other"`          // records of generators outside the expected set (ignored)
	Mismatch   int                 `json:"value_mismatch"` // differs from the published log
	BadKey     int                 `json:"bad_key"`        // Kafka key is not the generatorID
	BadID      int                 `json:"bad_identity"`   // identity header does not match
	BadRecords int                 `json:"undecodable"`
	Examples   map[string][]string `json:"examples,omitempty"`
}

// OK reports whether nothing was lost, disordered, unknown or wrong.
// Duplicates are allowed (at-least-once delivery), and counted.
func (r RawReport) OK() bool {
	return r.Missing == 0 && r.OutOfOrder == 0 && len(r.Split) == 0 && r.Unknown == 0 &&
		r.Mismatch == 0 && r.BadKey == 0 && r.BadID == 0 && r.BadRecords == 0
}

func (r *RawReport) example(kind, format string, args ...any) {
	addExample(&r.Examples, kind, format, args...)
}

// addExample keeps up to maxExamples examples per kind.
func addExample(m *map[string][]string, kind, format string, args ...any) {
	if *m == nil {
		*m = map[string][]string{}
	}
	if len((*m)[kind]) < maxExamples {
		(*m)[kind] = append((*m)[kind], fmt.Sprintf(format, args...))
	}
}

// rawCheck holds the state of one CheckRaw run.
type rawCheck struct {
	exp    Expect
	byTime map[string]map[int64]uint64
	rep    RawReport
	seen   map[string]map[uint64]int
	noSeq  map[string]uint64
	maxSeq map[partGen]uint64
	parts  map[string]map[int32]bool
}

type partGen struct {
	part int32
	id   string
}

// CheckRaw compares the raw readings read back from one sink with exp.
// Order is checked per generator within each partition (Partition >= 0): a
// seq lower than one already seen there is a duplicate if it was seen
// before, and out of order otherwise.
func CheckRaw(sink string, exp Expect, obs []Observation) RawReport {
	c := &rawCheck{
		exp: exp, byTime: exp.seqByTime(), rep: RawReport{Sink: sink, Records: len(obs)},
		seen: map[string]map[uint64]int{}, noSeq: map[string]uint64{},
		maxSeq: map[partGen]uint64{}, parts: map[string]map[int32]bool{},
	}
	for _, o := range obs {
		c.observe(o)
	}
	c.finish()
	return c.rep
}

func (c *rawCheck) observe(o Observation) {
	id := o.GeneratorID
	if o.Key != "" && o.Key != id {
		c.rep.BadKey++
		c.rep.example("bad_key", "partition %d offset %d: key %q, generatorID %q", o.Partition, o.Offset, o.Key, id)
	}
	if o.ID != "" && o.Seq != 0 && o.ID != id+"/seq/"+strconv.FormatUint(o.Seq, 10) {
		c.rep.BadID++
		c.rep.example("bad_identity", "%s seq %d: identity %q", id, o.Seq, o.ID)
	}
	dev, known := c.exp.Devices[id]
	if !known {
		// Real devices may share the topic with a drill: not ours to judge.
		c.rep.Other++
		return
	}
	seq := o.Seq
	if seq == 0 {
		seq = c.byTime[id][o.Time]
	}
	if seq == 0 {
		c.noSeq[id]++
		return
	}
	if seq > dev.Published {
		c.rep.Unknown++
		c.rep.example("unknown", "%s seq %d beyond the last published %d", id, seq, dev.Published)
		return
	}
	c.compare(id, seq, o.Reading)
	c.order(id, seq, o)
	if c.seen[id] == nil {
		c.seen[id] = map[uint64]int{}
	}
	c.seen[id][seq]++
}

// compare checks the reading against the published log, if loaded.
func (c *rawCheck) compare(id string, seq uint64, got model.Reading) {
	want, ok := c.exp.Readings[id][seq]
	if !ok {
		return
	}
	got.Seq, got.Stamped = want.Seq, want.Stamped
	if got != want {
		c.rep.Mismatch++
		c.rep.example("value_mismatch", "%s seq %d: got %+v, published %+v", id, seq, got, want)
	}
}

func (c *rawCheck) order(id string, seq uint64, o Observation) {
	if o.Partition < 0 {
		return
	}
	if c.parts[id] == nil {
		c.parts[id] = map[int32]bool{}
	}
	c.parts[id][o.Partition] = true
	k := partGen{o.Partition, id}
	if seq < c.maxSeq[k] && c.seen[id][seq] == 0 {
		c.rep.OutOfOrder++
		c.rep.example("out_of_order", "%s partition %d offset %d: seq %d after seq %d", id, o.Partition, o.Offset, seq, c.maxSeq[k])
	}
	c.maxSeq[k] = max(c.maxSeq[k], seq)
}

func (c *rawCheck) finish() {
	for _, id := range c.exp.ids() {
		dev, have := c.exp.Devices[id], c.seen[id]
		for _, n := range have {
			c.rep.Unique++
			c.rep.Duplicates += n - 1
		}
		if len(have) == 0 && c.noSeq[id] > 0 {
			c.countOnly(id, dev)
			continue
		}
		if miss := missingRanges(have, dev.From, dev.Acked); len(miss) > 0 {
			if c.rep.MissingBy == nil {
				c.rep.MissingBy = map[string][]Range{}
			}
			c.rep.MissingBy[id] = miss
			for _, r := range miss {
				c.rep.Missing += r.Len()
			}
		}
		for s := max(dev.Acked+1, dev.From); s <= dev.Published; s++ {
			if have[s] == 0 {
				c.rep.Unacked++
			}
		}
		if len(c.parts[id]) > 1 {
			c.rep.Split = append(c.rep.Split, id)
		}
	}
}

// countOnly judges a generator whose records carry no seq and are not in a
// log (bare payloads): only the count can be compared.
func (c *rawCheck) countOnly(id string, dev Device) {
	n := c.noSeq[id]
	c.rep.Unique += int(min(n, dev.Published))
	if n < dev.Acked {
		if c.rep.ShortBy == nil {
			c.rep.ShortBy = map[string]uint64{}
		}
		c.rep.ShortBy[id] = dev.Acked - n
		c.rep.Missing += dev.Acked - n
	}
	if n > dev.Published {
		c.rep.Duplicates += int(n - dev.Published)
	}
}
