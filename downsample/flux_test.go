package downsample

import (
	"cmp"
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent/model"

	"github.com/edgespool/edgespool/sim/testenv"
)

// referenceTask is the reference Flux task for one
// window: the task's scheduling is replaced by a fixed range, the `to` by
// returning the rows.
const referenceTask = `from(bucket: "kafka/autogen")
    |> range(start: %s, stop: %s)
    |> filter(fn: (r) => r["_measurement"] == "genData")
    |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
    |> group(columns: ["generatorID"], mode: "by")
    |> last(column: "fuel")
    |> map(fn: (r) => ({r with alarm: if r.fuel < 500 then "refuel" else "no action"}))
    |> set(key: "region", value: "US")
`

// TestFluxEquivalence writes the same raw readings to InfluxDB 1.8 (Flux
// enabled) and to a spool, runs the reference task for every minute and
// the engine once, and compares the points field by field.
func TestFluxEquivalence(t *testing.T) {
	if testing.Short() {
		t.Skip("starts influxd")
	}
	stream := simulatedStream(rand.New(rand.NewPCG(5, 5)), 8, 12*time.Minute)
	in := testenv.Influx(t)
	in.CreateDB(t, "kafka")
	for i := 0; i < len(stream); i += 200 { // in arrival order: the later write of a tie wins
		in.Write(t, "kafka", lineProtocol(stream[i:min(i+200, len(stream))]))
	}
	path := filepath.Join(t.TempDir(), "spool.db")
	fillRaw(t, path, stream)
	got := map[string]model.Point{}
	for _, p := range drainInProcess(t, path, stream, 1) {
		got[fmt.Sprint(p.GeneratorID, " ", p.Window)] = p
	}
	want := map[string]fluxRow{}
	for w := t0; w.Before(t0.Add(13 * time.Minute)); w = w.Add(time.Minute) {
		q := fmt.Sprintf(referenceTask, w.Format(time.RFC3339), w.Add(time.Minute).Format(time.RFC3339))
		for _, row := range parseFluxCSV(t, in.Flux(t, q)) {
			want[fmt.Sprint(row["generatorID"], " ", w.UnixNano())] = row
		}
	}
	if len(got) != len(want) || len(want) < 8*12 {
		t.Errorf("engine: %d points, reference task: %d", len(got), len(want))
	}
	for k, row := range want {
		p, ok := got[k]
		if !ok {
			t.Errorf("%s: missing from the engine's output", k)
			continue
		}
		if diff := row.diff(t, p); diff != "" {
			t.Errorf("%s: %s", k, diff)
		}
	}
}

// simulatedStream follows the reference simulator:
// fixed period per generator, load bands, fuel burnt and refilled. It adds
// what a real site sees within the lateness: arrival jitter of up to 3s
// across generators, readings out of order within a generator, and repeated
// timestamps (a tie: the later arrival must win, as in InfluxDB).
func simulatedStream(rng *rand.Rand, gens int, span time.Duration) []model.Reading {
	type pending struct {
		r      model.Reading
		arrive int64
	}
	var all []pending
	for g := range gens {
		period := time.Duration(1+rng.IntN(15)) * time.Second
		fuel := int64(900 + rng.IntN(101))
		lat, lon := 30+rng.Float64()*15, -120+rng.Float64()*45
		for ts := t0.Add(time.Duration(rng.IntN(5000)) * time.Millisecond); ts.Before(t0.Add(span)); ts = ts.Add(period) {
			r := simulatedReading(rng, fmt.Sprintf("generator%d", g+1), ts.UnixNano(), &fuel, lat, lon)
			all = append(all, pending{r, r.Time + int64(rng.IntN(3000))*int64(time.Millisecond)})
			if rng.IntN(10) == 0 {
				tie := simulatedReading(rng, r.GeneratorID, r.Time, &fuel, lat, lon)
				all = append(all, pending{tie, all[len(all)-1].arrive + 1})
			}
		}
	}
	slices.SortStableFunc(all, func(a, b pending) int { return cmp.Compare(a.arrive, b.arrive) })
	out := make([]model.Reading, len(all))
	for i, p := range all {
		out[i] = p.r
	}
	return out
}

func simulatedReading(rng *rand.Rand, id string, t int64, fuel *int64, lat, lon float64) model.Reading {
	load := int64(rng.IntN(101))
	var temp, power, burn int64
	switch {
	case load >= 75:
		temp, power, burn = 210+rng.Int64N(91), 2000+rng.Int64N(601), 90+rng.Int64N(41)
	case load >= 50:
		temp, power, burn = 200+rng.Int64N(11), 1100+rng.Int64N(901), 75+rng.Int64N(16)
	case load >= 25:
		temp, power, burn = 190+rng.Int64N(11), 500+rng.Int64N(601), 50+rng.Int64N(26)
	case load >= 1:
		temp, power, burn = 170+rng.Int64N(21), 100+rng.Int64N(401), 10+rng.Int64N(41)
	default:
		temp = 160
	}
	if *fuel <= 0 {
		*fuel += 500 + rng.Int64N(501)
	} else {
		*fuel -= burn
	}
	return model.Reading{GeneratorID: id, Time: t, Lat: lat, Lon: lon, Temperature: temp, Power: power, Load: load, Fuel: *fuel}
}

func lineProtocol(rs []model.Reading) string {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "%s,generatorID=%s fuel=%di,lat=%s,lon=%s,power=%di,load=%di,temperature=%di %d\n",
			model.Measurement, r.GeneratorID, r.Fuel, strconv.FormatFloat(r.Lat, 'g', -1, 64),
			strconv.FormatFloat(r.Lon, 'g', -1, 64), r.Power, r.Load, r.Temperature, r.Time)
	}
	return b.String()
}

// fluxRow is one row of a Flux CSV result, by column name.
type fluxRow map[string]string

// parseFluxCSV parses annotated CSV: tables separated by annotation rows,
// each with a header row whose second column is "result".
func parseFluxCSV(t *testing.T, body string) []fluxRow {
	t.Helper()
	rd := csv.NewReader(strings.NewReader(body))
	rd.FieldsPerRecord = -1
	recs, err := rd.ReadAll()
	if err != nil {
		t.Fatalf("flux csv: %v\n%s", err, body)
	}
	var header []string
	var rows []fluxRow
	for _, rec := range recs {
		switch {
		case len(rec) < 2 || strings.HasPrefix(rec[0], "#"):
		case rec[1] == "result":
			header = rec
		case header != nil:
			row := fluxRow{}
			for i := range min(len(rec), len(header)) {
				row[header[i]] = rec[i]
			}
			rows = append(rows, row)
		}
	}
	return rows
}

// diff compares a row of the reference task with a point of the engine.
func (row fluxRow) diff(t *testing.T, p model.Point) string {
	ts, err := time.Parse(time.RFC3339Nano, row["_time"])
	if err != nil {
		t.Fatalf("_time %q: %v", row["_time"], err)
	}
	want := []string{strconv.FormatInt(ts.UnixNano(), 10), row["fuel"], row["lat"], row["lon"], row["power"],
		row["load"], row["temperature"], row["alarm"], row["region"]}
	got := []string{strconv.FormatInt(p.Time, 10), strconv.FormatInt(p.Fuel, 10),
		strconv.FormatFloat(p.Lat, 'g', -1, 64), strconv.FormatFloat(p.Lon, 'g', -1, 64),
		strconv.FormatInt(p.Power, 10), strconv.FormatInt(p.Load, 10), strconv.FormatInt(p.Temperature, 10), p.Alarm, p.Region}
	for i := range want {
		if want[i] != got[i] {
			return fmt.Sprintf("time,fuel,lat,lon,power,load,temperature,alarm,region:\n  task   %v\n  engine %v", want, got)
		}
	}
	return ""
}
