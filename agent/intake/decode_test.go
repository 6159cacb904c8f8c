package intake

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent/model"
)

const refPayload = `{"generatorID": "generator1", "lat": 40.71427, "lon": -74.00597, "temperature": 205, "power": 1534, "load": 62, "fuel": 912}`

var now = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano()

func newDec() *Decoder {
	return &Decoder{MaxPayload: 4096, MaxFuture: time.Hour}
}

func decodeOne(t *testing.T, topic, payload string) (model.Reading, error) {
	t.Helper()
	var d Decoded
	err := newDec().Decode(&d, topic, []byte(payload), now)
	if err != nil {
		if len(d.Readings) != 0 {
			t.Fatalf("rejected payload left %d readings", len(d.Readings))
		}
		return model.Reading{}, err
	}
	if len(d.Readings) != 1 {
		t.Fatalf("got %d readings, want 1", len(d.Readings))
	}
	return d.Readings[0], nil
}

func TestDecodeReferencePayload(t *testing.T) {
	r, err := decodeOne(t, "emergency_generator/generator1", refPayload)
	if err != nil {
		t.Fatal(err)
	}
	want := model.Reading{GeneratorID: "generator1", Time: now, Stamped: true,
		Lat: 40.71427, Lon: -74.00597, Temperature: 205, Power: 1534, Load: 62, Fuel: 912}
	if r != want {
		t.Fatalf("got %+v\nwant %+v", r, want)
	}
}

func TestDecodeTimeAndSeq(t *testing.T) {
	base := `"lat":1,"lon":2,"temperature":160,"power":0,"load":0,"fuel":-3`
	ev := time.Date(2025, 3, 1, 11, 59, 0, 123456789, time.UTC)
	cases := []struct {
		name, payload string
		want          int64
	}{
		{"rfc3339", `{"time":"2025-03-01T11:59:00.123456789Z",` + base + `}`, ev.UnixNano()},
		{"rfc3339 offset", `{"ts":"2025-03-01T12:59:00.123456789+01:00",` + base + `}`, ev.UnixNano()},
		{"seconds", `{"ts":1740830340,` + base + `}`, ev.Truncate(time.Second).UnixNano()},
		{"seconds frac", `{"ts":1740830340.5,` + base + `}`, ev.Truncate(time.Second).UnixNano() + 5e8},
		{"millis", `{"ts":1740830340123,` + base + `}`, ev.Truncate(time.Millisecond).UnixNano()},
		{"micros", `{"ts":1740830340123456,` + base + `}`, ev.Truncate(time.Microsecond).UnixNano()},
		{"nanos", `{"time":1740830340123456789,` + base + `}`, ev.UnixNano()},
		{"time wins over ts", `{"time":1740830340123456789,"ts":5,` + base + `}`, ev.UnixNano()},
		{"null time is absent", `{"time":null,"ts":1740830340,` + base + `}`, ev.Truncate(time.Second).UnixNano()},
	}
	for _, c := range cases {
		r, err := decodeOne(t, "x/gen9", c.payload)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if r.Time != c.want || r.Stamped || r.GeneratorID != "gen9" || r.Fuel != -3 {
			t.Errorf("%s: got time %d stamped %v id %q, want %d", c.name, r.Time, r.Stamped, r.GeneratorID, c.want)
		}
	}
	r, err := decodeOne(t, "a/b", `{"seq":42,"generatorID":"g",`+base+`}`)
	if err != nil || r.Seq != 42 || r.GeneratorID != "g" {
		t.Fatalf("seq: %+v %v", r, err)
	}
}

func TestDecodeAccepts(t *testing.T) {
	for _, p := range []string{
		`{"generatorID":"g","lat":1,"lon":2,"temperature":1,"power":1,"load":1,"fuel":812.0}`,
		`{"generatorID":"g","lat":1,"lon":2,"temperature":1,"power":1,"load":1,"fuel":8.12e2}`,
		`{"generatorID":"g","lat":1,"lon":2,"temperature":1,"power":1,"load":1,"fuel":1,"extra":{"a":[1,2,{"b":null}]},"x":true}`,
		` {"generator\u0049D":"g\u00e9","lat":1,"lon":2,"temperature":1,"power":1,"load":1,"fuel":1} `,
		`{"fuel":1,"fuel":2,"generatorID":"g","lat":1,"lon":2,"temperature":1,"power":1,"load":1}`,
	} {
		if _, err := decodeOne(t, "t/x", p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	ok := `"lat":1,"lon":2,"temperature":1,"power":1,"load":1`
	huge := make([]byte, 5000)
	for i := range huge {
		huge[i] = ' '
	}
	cases := []struct{ payload, topic, reason string }{
		{"", "t/g", ReasonEmpty},
		{string(huge), "t/g", ReasonTooLarge},
		{"{\"generatorID\":\"\xff\"}", "t/g", ReasonParse},
		{`{"generatorID":"g",` + ok, "t/g", ReasonParse},
		{`{` + ok + `,"fuel":1}x`, "t/g", ReasonParse},
		{`[1,2]`, "t/g", ReasonParse},
		{`{` + ok + `,"fuel":NaN}`, "t/g", ReasonParse},
		{`{` + ok + `,"fuel":"812"}`, "t/g", ReasonWrongType},
		{`{` + ok + `,"fuel":812.5}`, "t/g", ReasonNotInteger},
		{`{` + ok + `,"fuel":1e400}`, "t/g", ReasonNonFinite},
		{`{` + ok + `,"fuel":99999999999999999999}`, "t/g", ReasonOutOfRange},
		{`{` + ok + `}`, "t/g", ReasonMissingField},
		{`{` + ok + `,"fuel":null}`, "t/g", ReasonMissingField},
		{`{` + ok + `,"fuel":1}`, "t/", ReasonMissingID},
		{`{` + ok + `,"fuel":1,"generatorID":"a\u0000b"}`, "t/g", ReasonBadID},
		{`{` + ok + `,"fuel":1,"generatorID":"a+b"}`, "t/g", ReasonBadID},
		{`{` + ok + `,"fuel":1,"generatorID":7}`, "t/g", ReasonWrongType},
		{`{"lat":91,"lon":2,"temperature":1,"power":1,"load":1,"fuel":1}`, "t/g", ReasonOutOfRange},
		{`{"lat":1,"lon":2,"temperature":1,"power":1,"load":101,"fuel":1}`, "t/g", ReasonOutOfRange},
		{`{` + ok + `,"fuel":1,"seq":-1}`, "t/g", ReasonOutOfRange},
		{`{` + ok + `,"fuel":1,"time":"yesterday"}`, "t/g", ReasonBadTime},
		{`{` + ok + `,"fuel":1,"time":0}`, "t/g", ReasonBadTime},
		{`{` + ok + `,"fuel":1,"ts":1999999999}`, "t/g", ReasonBadTime},
		{`{` + ok + `,"fuel":1,"ts":true}`, "t/g", ReasonWrongType},
	}
	for _, c := range cases {
		_, err := decodeOne(t, c.topic, c.payload)
		var de *DecodeError
		if !errors.As(err, &de) || de.Reason != c.reason {
			t.Errorf("%.60q: got %v, want reason %s", c.payload, err, c.reason)
		}
	}
}

func TestDecodeLineProtocol(t *testing.T) {
	p := "genData,generatorID=generator3,site=x lat=40.5,lon=-74,temperature=205i,power=1534u,load=62,fuel=912i,seq=7i 1740830340000\n" +
		"genData lat=40.5,lon=-74,temperature=205i,power=1534i,load=62i,fuel=900i\n"
	var d Decoded
	if err := newDec().Decode(&d, "emergency_generator/generator4", []byte(p), now); err != nil {
		t.Fatal(err)
	}
	if len(d.Readings) != 2 || !d.UnknownFields {
		t.Fatalf("got %+v", d)
	}
	a, b := d.Readings[0], d.Readings[1]
	if a.GeneratorID != "generator3" || a.Seq != 7 || a.Time != 1740830340000*int64(time.Millisecond) || a.Load != 62 || a.Lon != -74 {
		t.Errorf("first line: %+v", a)
	}
	if b.GeneratorID != "generator4" || !b.Stamped || b.Time != now || b.Fuel != 900 {
		t.Errorf("second line: %+v", b)
	}
	for p, reason := range map[string]string{
		"genData lat=1,lon=2,temperature=1i,power=1i,load=1i,fuel=812.5":                      ReasonNotInteger,
		"genData lat=1,lon=2,temperature=1i,power=1i,load=1i,fuel=\"x\"":                      ReasonWrongType,
		"genData lat=1,lon=2,temperature=1i,power=1i,load=1i":                                 ReasonMissingField,
		"genData lat=1,lon=2,temperature=1i,power=1i,load=1i,fuel=1i 5":                       ReasonBadTime,
		"genData lat=1,lon=2,temperature=1i,power=1i,load=1i,fuel=1i,seq=-1i":                 ReasonOutOfRange,
		"genData lat=1,lon=2,temperature=1i,power=1i,load=1i,fuel=1i x":                       ReasonParse,
		"genData,generatorID=a lat=1,lon=2,temperature=1i,power=1i,load=1i,fuel=1i\nbad line": ReasonParse,
	} {
		var d Decoded
		err := newDec().Decode(&d, "t/g", []byte(p), now)
		var de *DecodeError
		if !errors.As(err, &de) || de.Reason != reason || len(d.Readings) != 0 {
			t.Errorf("%q: got %v (%d readings), want %s", p, err, len(d.Readings), reason)
		}
	}
}

func TestEpochUnits(t *testing.T) {
	for _, c := range []struct {
		in   int64
		want int64
	}{{1, 1e9}, {9e9, 9e18}, {1e11, 1e17}, {1e14, 1e17}, {1e17, 1e17}, {-5, -5e9}} {
		if got, err := epochIntToNanos(c.in); err != nil || got != c.want {
			t.Errorf("epochIntToNanos(%d) = %d, %v; want %d", c.in, got, err, c.want)
		}
		if got, err := epochToNanos(float64(c.in)); err != nil || math.Abs(float64(got-c.want)) > 1e3 {
			t.Errorf("epochToNanos(%d) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	if _, err := epochIntToNanos(99999999999); err == nil {
		t.Error("overflow accepted")
	}
	if _, err := epochIntToNanos(math.MinInt64); err == nil {
		t.Error("MinInt64 accepted")
	}
}
