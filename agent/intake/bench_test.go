package intake

import (
	"testing"
	"unicode/utf8"
)

func utf8Valid(b []byte) bool { return utf8.Valid(b) }

func BenchmarkDecodeJSON(b *testing.B) {
	p := []byte(`{"generatorID": "generator17", "seq": 123456, "ts": 1740830340123, "lat": 40.71427, "lon": -74.00597, "temperature": 205, "power": 1534, "load": 62, "fuel": 912}`)
	benchDecode(b, p)
}

func BenchmarkDecodeJSONSlowPath(b *testing.B) {
	p := []byte(`{"generatorID": "generator17", "seq": 123456, "ts": 1740830340123, "lat": 40.71427, "lon": -74.00597, "temperature": 205, "power": 1534, "load": 62, "fuel": 912}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	dec := &Decoder{}
	for i := 0; i < b.N; i++ {
		f, err := slowJSON(p)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := dec.fromJSON(&f, "t/x", now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeLine(b *testing.B) {
	p := []byte("genData,generatorID=generator17 lat=40.71427,lon=-74.00597,temperature=205i,power=1534i,load=62i,fuel=912i,seq=123456i 1740830340123")
	benchDecode(b, p)
}

func benchDecode(b *testing.B, p []byte) {
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	dec := &Decoder{MaxPayload: 1 << 14}
	var d Decoded
	for i := 0; i < b.N; i++ {
		d.Readings = d.Readings[:0]
		if err := dec.Decode(&d, "emergency_generator/generator17", p, now); err != nil {
			b.Fatal(err)
		}
	}
}
