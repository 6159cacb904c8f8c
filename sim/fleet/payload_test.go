package fleet

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent/model"
)

func TestPayloadJSON(t *testing.T) {
	r := model.Reading{GeneratorID: "generator1", Time: time.Date(2024, 5, 1, 12, 0, 0, 123456789, time.UTC).UnixNano(),
		Seq: 77, Lat: 40.71427, Lon: -74.00597, Temperature: 205, Power: 1534, Load: 62, Fuel: -12}
	var got map[string]any
	if err := json.Unmarshal(AppendPayload(nil, r, false), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"generatorID": "generator1", "lat": 40.71427, "lon": -74.00597,
		"temperature": 205.0, "power": 1534.0, "load": 62.0, "fuel": -12.0,
		"time": "2024-05-01T12:00:00.123456789Z", "seq": 77.0}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("fields %v", got)
	}
}

func TestBarePayloadIsReference(t *testing.T) {
	r := model.Reading{GeneratorID: "generator1", Time: 5, Seq: 3, Lat: 40.71427, Lon: -74.00597,
		Temperature: 205, Power: 1534, Load: 62, Fuel: 912}
	want := `{"generatorID": "generator1", "lat": 40.71427, "lon": -74.00597, "temperature": 205, "power": 1534, "load": 62, "fuel": 912}`
	if got := string(AppendPayload(nil, r, true)); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}
