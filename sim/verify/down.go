package verify

import (
	"time"

	"github.com/edgespool/edgespool/agent/model"
)

// Reference alarm labels and threshold (the reference pipeline).
const (
	AlarmRefuel   = "refuel"
	AlarmNoAction = "no action"
	RefuelBelow   = 500
	DefaultRegion = "US"
	DefaultWindow = time.Minute
)

// ExpectedAlarm is the reference rule: "refuel" when fuel < 500.
func ExpectedAlarm(fuel int64) string {
	if fuel < RefuelBelow {
		return AlarmRefuel
	}
	return AlarmNoAction
}

// DownOptions configure CheckDown; zero values mean the defaults.
type DownOptions struct {
	Window time.Duration // default one minute
	Region string        // expected region tag; default "US"
	// From and Until, when set, judge only the windows that start at or
	// after From and before Until (a slice of a run); points of other
	// windows are left out. Pending still means each generator's last
	// window of the whole run.
	From, Until time.Time
}

// holds reports whether the window starting at w is in o's slice.
func (o DownOptions) holds(w int64) bool {
	return (o.From.IsZero() || w >= o.From.UnixNano()) && (o.Until.IsZero() || w < o.Until.UnixNano())
}

// DownReport is the result of CheckDown for one sink.
type DownReport struct {
	Sink       string              `json:"sink"`
	Points     int                 `json:"points"`
	Windows    int                 `json:"windows"` // (generator, window) pairs with raw data
	Present    int                 `json:"present"` // windows with a point (right or wrong)
	Missing    int                 `json:"missing"`
	Pending    int                 `json:"pending"` // each generator's last window, possibly still open
	Duplicates int                 `json:"duplicates"`
	Wrong      int                 `json:"wrong"`
	Extra      int                 `json:"extra"` // a point for a window without raw data
	Alarms     map[string]int      `json:"alarms"`
	Examples   map[string][]string `json:"examples,omitempty"`
}

// OK reports whether every closed window has exactly the right point.
// Duplicates (replays of the same point) are allowed and counted.
func (r DownReport) OK() bool { return r.Missing == 0 && r.Wrong == 0 && r.Extra == 0 }

func (r *DownReport) example(kind, format string, args ...any) {
	addExample(&r.Examples, kind, format, args...)
}

type genWindow struct {
	id     string
	window int64
}

// windowOf returns the start of the aligned window holding t.
func windowOf(t int64, w time.Duration) int64 {
	n := int64(w)
	q := t / n
	if t < 0 && t%n != 0 {
		q--
	}
	return q * n
}

// latestPerWindow returns, for each (generator, window), the latest raw
// reading: greatest time, ties broken by the greater seq (the later one).
func latestPerWindow(raw []model.Reading, w time.Duration) map[genWindow]model.Reading {
	out := map[genWindow]model.Reading{}
	for _, r := range raw {
		k := genWindow{r.GeneratorID, windowOf(r.Time, w)}
		cur, ok := out[k]
		if !ok || r.Time > cur.Time || (r.Time == cur.Time && r.Seq > cur.Seq) {
			out[k] = r
		}
	}
	return out
}

// lastWindows returns each generator's last window with raw data.
func lastWindows(exp map[genWindow]model.Reading) map[string]int64 {
	last := map[string]int64{}
	for k := range exp {
		if w, ok := last[k.id]; !ok || k.window > w {
			last[k.id] = k.window
		}
	}
	return last
}

// CheckDown checks downsampled points against the raw readings they were
// computed from: one point per generator per window with raw data, equal to
// that window's latest reading, with the reference alarm and the region.
func CheckDown(sink string, raw []model.Reading, points []Observation, o DownOptions) DownReport {
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.Region == "" {
		o.Region = DefaultRegion
	}
	exp := latestPerWindow(raw, o.Window)
	last := lastWindows(exp)
	for k := range exp {
		if !o.holds(k.window) {
			delete(exp, k)
		}
	}
	rep := DownReport{Sink: sink, Windows: len(exp), Alarms: map[string]int{}}
	got := map[genWindow]int{}
	for _, p := range points {
		k := genWindow{p.GeneratorID, windowOf(p.Time, o.Window)}
		if !o.holds(k.window) {
			continue
		}
		rep.Points++
		got[k]++
		if got[k] > 1 {
			rep.Duplicates++
			continue
		}
		rep.Alarms[p.Alarm]++
		checkPoint(&rep, p, k, exp, o)
	}
	for k := range exp {
		switch {
		case got[k] > 0:
			rep.Present++
		case k.window == last[k.id]:
			rep.Pending++
		default:
			rep.Missing++
			rep.example("missing", "%s window %s", k.id, time.Unix(0, k.window).UTC().Format(time.RFC3339))
		}
	}
	return rep
}

func checkPoint(rep *DownReport, p Observation, k genWindow, exp map[genWindow]model.Reading, o DownOptions) {
	want, ok := exp[k]
	when := time.Unix(0, k.window).UTC().Format(time.RFC3339)
	switch {
	case !ok:
		rep.Extra++
		rep.example("extra", "%s window %s: no raw reading in that window", k.id, when)
	case p.HasWindow && p.Window != k.window:
		rep.Wrong++
		rep.example("wrong", "%s: window field %d, time %d lies in window %d", k.id, p.Window, p.Time, k.window)
	case p.Time != want.Time || p.Fuel != want.Fuel:
		rep.Wrong++
		rep.example("wrong", "%s window %s: point time %d fuel %d, latest reading time %d fuel %d",
			k.id, when, p.Time, p.Fuel, want.Time, want.Fuel)
	case p.Alarm != ExpectedAlarm(want.Fuel):
		rep.Wrong++
		rep.example("wrong", "%s window %s: alarm %q for fuel %d", k.id, when, p.Alarm, want.Fuel)
	case p.Region != o.Region:
		rep.Wrong++
		rep.example("wrong", "%s window %s: region %q, want %q", k.id, when, p.Region, o.Region)
	}
}
