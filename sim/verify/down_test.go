package verify

import (
	"fmt"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent/model"
)

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC).UnixNano()

// rawMinutes returns readings of one generator every 10 s for n minutes,
// with fuel crossing the alarm threshold.
func rawMinutes(id string, n int) []model.Reading {
	var out []model.Reading
	for i := 0; i < n*6; i++ {
		out = append(out, model.Reading{GeneratorID: id, Seq: uint64(i + 1),
			Time: t0 + int64(i)*10e9 + 1e6, Fuel: 700 - int64(i)*10})
	}
	return out
}

// pointsFor computes the correct downsampled points straightforwardly.
func pointsFor(raw []model.Reading) []Observation {
	var out []Observation
	for i, r := range raw {
		if i+1 == len(raw) || windowOf(raw[i+1].Time, time.Minute) != windowOf(r.Time, time.Minute) {
			out = append(out, Observation{Reading: r, Alarm: ExpectedAlarm(r.Fuel), Region: "US",
				Window: windowOf(r.Time, time.Minute), HasWindow: true, Partition: -1})
		}
	}
	return out
}

func TestCheckDownCorrect(t *testing.T) {
	raw := append(rawMinutes("generator1", 5), rawMinutes("generator2", 5)...)
	r := CheckDown("kafka", raw, pointsFor(raw), DownOptions{})
	if !r.OK() || r.Windows != 10 || r.Points != 10 || r.Alarms[AlarmRefuel] == 0 || r.Alarms[AlarmNoAction] == 0 {
		t.Fatalf("report %+v", r)
	}
}

func TestCheckDownFindings(t *testing.T) {
	raw := rawMinutes("generator1", 5)
	tests := []struct {
		name  string
		edit  func([]Observation) []Observation
		check func(DownReport) bool
	}{
		{"missing minute", func(p []Observation) []Observation { return append(p[:1], p[2:]...) },
			func(r DownReport) bool { return !r.OK() && r.Missing == 1 }},
		{"open last minute is pending", func(p []Observation) []Observation { return p[:4] },
			func(r DownReport) bool { return r.OK() && r.Pending == 1 }},
		{"duplicate replay", func(p []Observation) []Observation { return append(p, p[2]) },
			func(r DownReport) bool { return r.OK() && r.Duplicates == 1 }},
		{"not the latest reading", func(p []Observation) []Observation {
			p[1].Reading = raw[7]
			return p
		}, func(r DownReport) bool { return !r.OK() && r.Wrong == 1 }},
		{"wrong alarm", func(p []Observation) []Observation {
			p[4].Alarm = AlarmNoAction // fuel < 500 in the last minute
			return p
		}, func(r DownReport) bool { return !r.OK() && r.Wrong == 1 }},
		{"wrong window field", func(p []Observation) []Observation {
			p[2].Window += int64(time.Minute)
			return p
		}, func(r DownReport) bool { return !r.OK() && r.Wrong == 1 }},
		{"point without raw data", func(p []Observation) []Observation {
			x := p[0]
			x.Time += int64(time.Hour)
			x.HasWindow = false
			return append(p, x)
		}, func(r DownReport) bool { return !r.OK() && r.Extra == 1 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := CheckDown("influx", raw, tc.edit(pointsFor(raw)), DownOptions{})
			if !tc.check(r) {
				t.Fatalf("report %+v", r)
			}
			checkExampleKinds(t, r, r.Examples)
		})
	}
}

func TestAlarmBoundary(t *testing.T) {
	for fuel, want := range map[int64]string{499: AlarmRefuel, 500: AlarmNoAction, -3: AlarmRefuel, 900: AlarmNoAction} {
		if got := ExpectedAlarm(fuel); got != want {
			t.Errorf("fuel %d: %q, want %q", fuel, got, want)
		}
	}
}

func TestLatestTieTakesLaterSeq(t *testing.T) {
	raw := []model.Reading{
		{GeneratorID: "g", Seq: 1, Time: t0, Fuel: 600},
		{GeneratorID: "g", Seq: 2, Time: t0, Fuel: 400},
	}
	if got := latestPerWindow(raw, time.Minute)[genWindow{"g", t0}]; got.Seq != 2 {
		t.Fatalf("tie resolved to seq %d", got.Seq)
	}
	if w := windowOf(-1, time.Minute); w != -int64(time.Minute) {
		t.Fatalf("windowOf(-1) = %d", w)
	}
}

// Slices of a run by window start split every count of the whole run, and
// a finding lands in the slice that holds its window.
func TestCheckDownSlices(t *testing.T) {
	raw := append(rawMinutes("generator1", 6), rawMinutes("generator2", 6)...)
	all := pointsFor(raw)      // generator1's minutes 0-5, then generator2's
	all[8].Alarm = AlarmRefuel // generator2's third minute: fuel >= 500
	var pts []Observation
	for i, p := range all {
		switch i {
		case 1, 11: // generator1's second minute is missing, generator2's last pending
		case 7: // generator2's second minute is replayed
			pts = append(pts, p, p)
		default:
			pts = append(pts, p)
		}
	}
	whole := CheckDown("kafka", raw, pts, DownOptions{})
	at := func(min int) time.Time { return time.Unix(0, t0).Add(time.Duration(min) * time.Minute) }
	slices := []DownOptions{{Until: at(2)}, {From: at(2), Until: at(4)}, {From: at(4)}}
	var sum DownReport
	for i, o := range slices {
		r := CheckDown("kafka", raw, pts, o)
		sum.Points += r.Points
		sum.Windows += r.Windows
		sum.Present += r.Present
		sum.Missing += r.Missing
		sum.Wrong += r.Wrong
		sum.Duplicates += r.Duplicates
		sum.Pending += r.Pending
		sum.Extra += r.Extra
		want := [3][4]int{{1, 0, 1, 0}, {0, 1, 0, 0}, {0, 0, 0, 1}}[i] // missing, wrong, duplicates, pending
		if got := [4]int{r.Missing, r.Wrong, r.Duplicates, r.Pending}; got != want || r.Windows != 4 {
			t.Errorf("slice %d: %+v, want missing/wrong/duplicates/pending %v of 4 windows", i, r, want)
		}
	}
	sum.Sink, sum.Alarms, sum.Examples = whole.Sink, whole.Alarms, whole.Examples
	if sum.Present == 0 || sum.Pending != 1 || sum.Present+sum.Missing+sum.Pending != sum.Windows {
		t.Errorf("slices add up to %+v", sum)
	}
	whole.Present = sum.Present
	if fmt.Sprint(sum) != fmt.Sprint(whole) {
		t.Errorf("slices add up to %+v\nwhole run %+v", sum, whole)
	}
}
