package uplink

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent/model"
)

// jsonValue is the Kafka value as encoding/json would write it.
type jsonValue struct {
	GeneratorID string   `json:"generatorID"`
	Lat         float64  `json:"lat"`
	Lon         float64  `json:"lon"`
	Temperature int64    `json:"temperature"`
	Power       int64    `json:"power"`
	Load        int64    `json:"load"`
	Fuel        int64    `json:"fuel"`
	Time        string   `json:"time"`
	Seq         uint64   `json:"seq,omitempty"`
	Alarm       *string  `json:"alarm,omitempty"`
	Region      *string  `json:"region,omitempty"`
	Window      *string  `json:"window,omitempty"`
	Extra       struct{} `json:"-"`
}

func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	ids := []string{"generator1", `quo"te\back`, "tab\tnew\nline\x01\x7f", "ünïcødé ✓", "bad\xffutf8", "sep\u2028\u2029", "<html>&"}
	floats := []float64{40.71427, -74.00597, 0, 1e-7, 1.5e21, -3.25e-9, 123456789.125, math.MaxFloat64, math.SmallestNonzeroFloat64}
	for i, id := range ids {
		for j, f := range floats {
			r := reading(i, j)
			r.GeneratorID, r.Lat, r.Lon = id, f, -f
			if j%2 == 1 {
				r.Seq = 0
			}
			for _, down := range []bool{false, true} {
				it := item{Point: model.Point{Reading: r, Window: r.Time - 17, Alarm: "refuel" + id, Region: "US" + id}, down: down}
				got := appendJSON(nil, it)
				var v jsonValue
				dec := json.NewDecoder(bytes.NewReader(got))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&v); err != nil {
					t.Fatalf("%q: invalid JSON %s: %v", id, got, err)
				}
				want := jsonValue{GeneratorID: string(bytes.ToValidUTF8([]byte(id), []byte("\uFFFD"))), Lat: f, Lon: -f,
					Temperature: r.Temperature, Power: r.Power, Load: r.Load, Fuel: r.Fuel,
					Time: time.Unix(0, r.Time).UTC().Format(time.RFC3339Nano), Seq: r.Seq}
				if down {
					a, rg, w := "refuel"+want.GeneratorID, "US"+want.GeneratorID, time.Unix(0, it.Window).UTC().Format(time.RFC3339Nano)
					want.Alarm, want.Region, want.Window = &a, &rg, &w
				}
				wantJSON, _ := json.Marshal(want)
				gotJSON, _ := json.Marshal(v)
				if !bytes.Equal(wantJSON, gotJSON) {
					t.Errorf("round trip differs:\n got %s\nwant %s\n raw %s", gotJSON, wantJSON, got)
				}
				// Floats are formatted exactly as encoding/json does.
				ref, _ := json.Marshal(f)
				if !bytes.Contains(got, append([]byte(`"lat":`), ref...)) {
					t.Errorf("lat %v: %s lacks %s", f, got, ref)
				}
			}
		}
	}
}

func TestAppendJSONReferencePayload(t *testing.T) {
	r := model.Reading{GeneratorID: "generator1", Lat: 40.71427, Lon: -74.00597, Temperature: 205,
		Power: 1534, Load: 62, Fuel: 912, Time: t0.UnixNano()}
	got := string(appendJSON(nil, item{Point: model.Point{Reading: r}}))
	want := `{"generatorID":"generator1","lat":40.71427,"lon":-74.00597,"temperature":205,"power":1534,"load":62,"fuel":912,"time":"2024-05-01T12:00:00Z"}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestDecodeRejectsBadPayloads(t *testing.T) {
	good := model.AppendReading(nil, reading(1, 1))
	nan := reading(1, 1)
	nan.Lat = math.NaN()
	inf := reading(1, 1)
	inf.Lon = math.Inf(-1)
	badID := reading(1, 1)
	badID.GeneratorID = "g\xff"
	cases := map[string]Message{
		"truncated":      {Stream: model.StreamRaw, Value: good[:len(good)-3]},
		"empty":          {Stream: model.StreamRaw},
		"nan":            {Stream: model.StreamRaw, Value: model.AppendReading(nil, nan)},
		"inf":            {Stream: model.StreamRaw, Value: model.AppendReading(nil, inf)},
		"bad id":         {Stream: model.StreamRaw, Value: model.AppendReading(nil, badID)},
		"reading as pt":  {Stream: model.StreamDownsampled, Value: good},
		"trailing bytes": {Stream: model.StreamRaw, Value: append(append([]byte(nil), good...), 0)},
	}
	for name, m := range cases {
		if _, err := decode(m); ClassOf(err) != ClassPermanent || err == nil {
			t.Errorf("%s: err %v, want permanent", name, err)
		}
	}
	if _, err := decode(Message{Stream: model.StreamRaw, Value: good}); err != nil {
		t.Errorf("good reading: %v", err)
	}
}
