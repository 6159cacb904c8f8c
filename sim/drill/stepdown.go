package drill

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/edgespool/edgespool/sim/verify"
)

// judgeDownSteps judges, for every step, the downsampled windows that
// start within it: from the step's start (bounds[i], Unix ns) to the next
// step's; the first step takes every earlier window and the last every
// later one.
func judgeDownSteps(steps []StepResult, bounds []int64, down []downStream, o verify.DownOptions) {
	down = slices.Clone(down) // in the order of the raw sinks' columns
	slices.SortFunc(down, func(a, b downStream) int { return strings.Compare(a.sink, b.sink) })
	for i := range steps {
		so := o
		if i > 0 {
			so.From = time.Unix(0, bounds[i])
		}
		if i+1 < len(bounds) {
			so.Until = time.Unix(0, bounds[i+1])
		}
		for _, d := range down {
			steps[i].Down = append(steps[i].Down, verify.CheckDown(d.sink, d.raw, d.points, so))
		}
	}
}

// downReasons names every step whose downsampled windows were missing,
// wrong or extra.
func downReasons(steps []StepResult) []string {
	var out []string
	for _, s := range steps {
		for _, d := range s.Down {
			if !d.OK() {
				out = append(out, fmt.Sprintf("step %d (%s): downsampled %s: %s", s.Index, s.Label, d.Sink, downFindings(d)))
			}
		}
	}
	return out
}

// downFindings says what was wrong with a step's windows, e.g.
// "1 missing, 1 wrong of 12 windows".
func downFindings(d verify.DownReport) string {
	var parts []string
	for _, f := range []struct {
		n    int
		what string
	}{{d.Missing, "missing"}, {d.Wrong, "wrong"}, {d.Extra, "extra"}} {
		if f.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", f.n, f.what))
		}
	}
	return fmt.Sprintf("%s of %d windows", strings.Join(parts, ", "), d.Windows)
}

// downCounts is a step's downsampled figures in one cell:
// windows/present/missing/wrong/extra/duplicates.
func downCounts(d verify.DownReport, sep string) string {
	return strings.Join([]string{fmt.Sprint(d.Windows), fmt.Sprint(d.Present), fmt.Sprint(d.Missing),
		fmt.Sprint(d.Wrong), fmt.Sprint(d.Extra), fmt.Sprint(d.Duplicates)}, sep)
}

// downExamples lists a step's downsampled findings, one per line:
// "kafka t: wrong generator1 window ...".
func downExamples(s StepResult) []string {
	var out []string
	for _, d := range s.Down {
		for _, kind := range sortedKeys(d.Examples) {
			for _, e := range d.Examples[kind] {
				out = append(out, fmt.Sprintf("%s: %s %s", d.Sink, kind, e))
			}
		}
	}
	return out
}
