package uplink

import (
	"strings"
	"testing"

	"github.com/edgespool/edgespool/agent/model"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
)

func TestAppendLine(t *testing.T) {
	var enc lineprotocol.Encoder
	r := model.Reading{GeneratorID: "generator 1,x", Lat: 40.71427, Lon: -74.00597, Temperature: 205,
		Power: 1534, Load: 62, Fuel: -12, Time: 1714564800123456789, Seq: 9}
	if err := appendLine(&enc, item{Point: model.Point{Reading: r}}); err != nil {
		t.Fatal(err)
	}
	p := model.Point{Reading: r, Alarm: `refuel "now"`, Region: "US"}
	if err := appendLine(&enc, item{Point: p, down: true}); err != nil {
		t.Fatal(err)
	}
	want := `genData,generatorID=generator\ 1\,x fuel=-12i,lat=40.71427,lon=-74.00597,load=62i,power=1534i,temperature=205i 1714564800123456789
genData,generatorID=generator\ 1\,x,region=US alarm="refuel \"now\"",fuel=-12i,lat=40.71427,lon=-74.00597,load=62i,power=1534i,temperature=205i 1714564800123456789
`
	if got := string(enc.Bytes()); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// The output parses back with the same types.
	dec := lineprotocol.NewDecoderWithBytes(enc.Bytes())
	for dec.Next() {
		for {
			k, v, err := dec.NextField()
			if err != nil {
				t.Fatal(err)
			}
			if k == nil {
				break
			}
			want := lineprotocol.Int
			switch string(k) {
			case "lat", "lon":
				want = lineprotocol.Float
			case "alarm":
				want = lineprotocol.String
			}
			if v.Kind() != want {
				t.Errorf("field %s: kind %v, want %v", k, v.Kind(), want)
			}
		}
	}
}

func TestAppendLineRejectsAndKeepsBuffer(t *testing.T) {
	var enc lineprotocol.Encoder
	good := item{Point: model.Point{Reading: reading(1, 1)}}
	if err := appendLine(&enc, good); err != nil {
		t.Fatal(err)
	}
	before := string(enc.Bytes())
	bad := []item{
		{Point: model.Point{Reading: reading(1, 2), Region: ""}, down: true},            // empty tag value
		{Point: model.Point{Reading: reading(1, 2), Region: "new\nline"}, down: true},   // control character
		{Point: model.Point{Reading: model.Reading{GeneratorID: "trailing\\", Lat: 1}}}, // trailing backslash
	}
	for i, it := range bad {
		if err := appendLine(&enc, it); ClassOf(err) != ClassPermanent || err == nil {
			t.Errorf("bad %d: err %v, want permanent", i, err)
		}
		if got := string(enc.Bytes()); got != before {
			t.Errorf("bad %d left output: %q", i, strings.TrimPrefix(got, before))
		}
	}
	if err := appendLine(&enc, good); err != nil {
		t.Fatalf("encoder unusable after a rejected point: %v", err)
	}
}
