package verify

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// WriteText prints the report for a person.
func (r Report) WriteText(w io.Writer) {
	for _, x := range r.Raw {
		x.writeText(w)
	}
	for _, x := range r.Down {
		x.writeText(w)
	}
	verdict := "PASS: nothing lost, nothing out of order"
	if !r.OK() {
		verdict = "FAIL: see above"
	}
	fmt.Fprintln(w, verdict)
}

func mark(ok bool) string {
	if ok {
		return "ok  "
	}
	return "FAIL"
}

func (r RawReport) writeText(w io.Writer) {
	fmt.Fprintf(w, "%s raw %s: %d records, %d unique, %d duplicates, %d missing, %d out of order\n",
		mark(r.OK()), r.Sink, r.Records, r.Unique, r.Duplicates, r.Missing, r.OutOfOrder)
	ids := make([]string, 0, len(r.MissingBy))
	for id := range r.MissingBy {
		ids = append(ids, id)
	}
	sortIDs(ids)
	for _, id := range ids {
		fmt.Fprintf(w, "     missing %s seq %s\n", id, formatRanges(r.MissingBy[id], 8))
	}
	for id, n := range r.ShortBy {
		fmt.Fprintf(w, "     %s: %d readings short (no seq to tell which)\n", id, n)
	}
	extra := []string{}
	for _, f := range []struct {
		n    int
		what string
	}{{r.Unknown, "unknown"}, {r.Mismatch, "differ from the published log"}, {r.BadKey, "with a wrong key"},
		{r.BadID, "with a wrong identity header"}, {r.BadRecords, "undecodable"}, {int(r.Unacked), "unacknowledged by the broker and absent (allowed)"},
		{r.Other, "of other generators (ignored)"}} {
		if f.n > 0 {
			extra = append(extra, fmt.Sprintf("%d %s", f.n, f.what))
		}
	}
	if len(r.Split) > 0 {
		extra = append(extra, "split across partitions: "+strings.Join(r.Split, ", "))
	}
	if len(extra) > 0 {
		fmt.Fprintf(w, "     %s\n", strings.Join(extra, "; "))
	}
	writeExamples(w, r.Examples)
}

func (r DownReport) writeText(w io.Writer) {
	fmt.Fprintf(w, "%s downsampled %s: %d points for %d windows, %d missing, %d wrong, %d extra, %d duplicates, %d pending (last window)\n",
		mark(r.OK()), r.Sink, r.Points, r.Windows, r.Missing, r.Wrong, r.Extra, r.Duplicates, r.Pending)
	if len(r.Alarms) > 0 {
		fmt.Fprintf(w, "     alarms: %d refuel, %d no action\n", r.Alarms[AlarmRefuel], r.Alarms[AlarmNoAction])
	}
	writeExamples(w, r.Examples)
}

func writeExamples(w io.Writer, ex map[string][]string) {
	kinds := make([]string, 0, len(ex))
	for k := range ex {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		for _, e := range ex[k] {
			fmt.Fprintf(w, "     e.g. %s: %s\n", k, e)
		}
	}
}
