package model

import (
	"errors"
	"math"
	"testing"
)

func sampleReading() Reading {
	return Reading{GeneratorID: "generator7", Time: 1_700_000_000_123_456_789, Seq: 42,
		Lat: 40.71427, Lon: -74.00597, Temperature: 205, Power: 1534, Load: 62, Fuel: -12}
}

func TestReadingRoundTrip(t *testing.T) {
	for _, r := range []Reading{sampleReading(), {GeneratorID: "g", Stamped: true, Time: -5, Lat: math.MaxFloat64}} {
		got, err := DecodeReading(AppendReading(nil, r))
		if err != nil {
			t.Fatalf("decode %+v: %v", r, err)
		}
		if got != r {
			t.Fatalf("round trip: got %+v want %+v", got, r)
		}
	}
}

func TestPointRoundTrip(t *testing.T) {
	p := Point{Reading: sampleReading(), Window: 1_700_000_000_000_000_000, Alarm: "refuel", Region: "US"}
	got, err := DecodePoint(AppendPoint(nil, p))
	if err != nil {
		t.Fatal(err)
	}
	if got != p {
		t.Fatalf("got %+v want %+v", got, p)
	}
}

func TestDecodeRejectsDamage(t *testing.T) {
	good := AppendReading(nil, sampleReading())
	cases := map[string][]byte{
		"empty":     nil,
		"version":   append([]byte{9}, good[1:]...),
		"truncated": good[:len(good)-3],
		"trailing":  append(append([]byte{}, good...), 0),
		"no id":     AppendReading(nil, Reading{}),
	}
	for name, b := range cases {
		if _, err := DecodeReading(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err = %v, want ErrCorrupt", name, err)
		}
	}
}

func FuzzDecodeReading(f *testing.F) {
	f.Add(AppendReading(nil, sampleReading()))
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeReading(b)
		if err != nil {
			return
		}
		again, err := DecodeReading(AppendReading(nil, r))
		if err != nil || !(again == r || (math.IsNaN(r.Lat) || math.IsNaN(r.Lon))) {
			t.Fatalf("re-encode of %+v: %+v, %v", r, again, err)
		}
	})
}

func BenchmarkReadingCodec(b *testing.B) {
	r := sampleReading()
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = AppendReading(buf[:0], r)
		if _, err := DecodeReading(buf); err != nil {
			b.Fatal(err)
		}
	}
}
