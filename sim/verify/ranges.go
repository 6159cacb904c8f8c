package verify

import (
	"strconv"
	"strings"
)

// Range is an inclusive range of sequence numbers.
type Range struct {
	From uint64 `json:"from"`
	To   uint64 `json:"to"`
}

func (r Range) String() string {
	if r.From == r.To {
		return strconv.FormatUint(r.From, 10)
	}
	return strconv.FormatUint(r.From, 10) + "-" + strconv.FormatUint(r.To, 10)
}

// Len returns the number of seqs in r.
func (r Range) Len() uint64 { return r.To - r.From + 1 }

// missingRanges returns the seqs of from..upTo (from 0 means 1) absent
// from have, as ranges.
func missingRanges(have map[uint64]int, from, upTo uint64) []Range {
	var out []Range
	for s := max(from, 1); s <= upTo; s++ {
		if have[s] > 0 {
			continue
		}
		if n := len(out); n > 0 && out[n-1].To == s-1 {
			out[n-1].To = s
		} else {
			out = append(out, Range{s, s})
		}
	}
	return out
}

// FormatRanges prints at most max ranges, e.g. "3-7, 12, … 4 more".
func FormatRanges(rs []Range, max int) string { return formatRanges(rs, max) }

func formatRanges(rs []Range, max int) string {
	parts := make([]string, 0, min(len(rs), max)+1)
	for i, r := range rs {
		if i == max {
			parts = append(parts, "… "+strconv.Itoa(len(rs)-max)+" more")
			break
		}
		parts = append(parts, r.String())
	}
	return strings.Join(parts, ", ")
}
