package fleet

import (
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// Stats are the fleet's live counters.
type Stats struct {
	Published uint64 // messages handed to the publishers
	Acked     uint64 // messages acknowledged by the broker
	Skipped   uint64 // ticks given up because publishing lagged (no reading, no seq)
}

// Stats returns the live counters; safe to call while Run is running.
func (f *Fleet) Stats() Stats {
	return Stats{Published: f.published.Load(), Acked: f.acked.Load(), Skipped: f.skipped.Load()}
}

// Summary is what a run published, per generator: the expected set for a
// verifier. Every seq in 1..Acked was acknowledged by the broker; seqs in
// Acked+1..Published were sent but not (yet) acknowledged, so they may or
// may not arrive.
type Summary struct {
	Seed    uint64          `json:"seed"`
	Bare    bool            `json:"bare"`
	Devices []DeviceSummary `json:"devices"`
}

// DeviceSummary is one generator's part of a Summary.
type DeviceSummary struct {
	ID        string    `json:"generator_id"`
	Published uint64    `json:"published"`
	Acked     uint64    `json:"acked"`
	FirstTime time.Time `json:"first_time"`
	LastTime  time.Time `json:"last_time"`
}

// Summary returns the per-generator summary of what was published so far.
func (f *Fleet) Summary() Summary {
	s := Summary{Seed: f.o.Seed, Bare: f.o.Bare}
	for _, d := range f.devices {
		s.Devices = append(s.Devices, DeviceSummary{
			ID:        d.gen.ID,
			Published: d.published.Load(),
			Acked:     d.acked.Load(),
			FirstTime: time.Unix(0, d.first.Load()).UTC(),
			LastTime:  time.Unix(0, d.last.Load()).UTC(),
		})
	}
	return s
}

// WriteJSON writes s as indented JSON.
func (s Summary) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	if err := e.Encode(s); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	return nil
}

// ReadSummary decodes a Summary written by WriteJSON.
func ReadSummary(r io.Reader) (Summary, error) {
	var s Summary
	if err := json.NewDecoder(r).Decode(&s); err != nil {
		return s, fmt.Errorf("read summary: %w", err)
	}
	return s, nil
}
