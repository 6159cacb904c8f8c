package intake

import (
	"errors"
	"testing"

	"github.com/edgespool/edgespool/agent/model"
)

func addSeeds(f *testing.F) {
	for _, s := range []string{
		refPayload,
		`{"generatorID":"g","seq":3,"ts":1740830340123,"lat":1,"lon":2,"temperature":1,"power":1,"load":1,"fuel":812.0}`,
		`{"generatorID":"g\u00e9","x":{"a":[1,{"b":"\"\\"}]},"lat":1,"lon":2,"temperature":1,"power":1,"load":1,"fuel":1}`,
		`{"fuel":812.5}`, `{"fuel":"x"}`, `{"fuel":1e400}`, `[]`, `null`, `{}`, `{"a":`,
		"genData,generatorID=g lat=1,lon=2,temperature=1i,power=1i,load=1i,fuel=1i,seq=2i 1740830340",
		"genData lat=NaN", "m f=1 1 2",
	} {
		f.Add(s)
	}
}

// FuzzDecode: no panic; accepted readings satisfy the documented limits and
// survive the spool encoding; the fast JSON scanner agrees with
// encoding/json.
func FuzzDecode(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, payload string) {
		dec := &Decoder{MaxPayload: 1 << 16}
		var d Decoded
		err := dec.Decode(&d, "emergency_generator/fallback", []byte(payload), now)
		var de *DecodeError
		if err != nil && !errors.As(err, &de) {
			t.Fatalf("untyped error %v", err)
		}
		for _, r := range d.Readings {
			checkAccepted(t, r)
		}
		if firstNonSpace([]byte(payload)) == '{' {
			compareJSONPaths(t, []byte(payload))
		}
	})
}

func checkAccepted(t *testing.T, r model.Reading) {
	if r.GeneratorID == "" || checkID([]byte(r.GeneratorID)) != nil || checkRanges(&r) != nil {
		t.Fatalf("accepted a reading outside the limits: %+v", r)
	}
	back, err := model.DecodeReading(model.AppendReading(nil, r))
	if err != nil || back != r {
		t.Fatalf("codec round trip: %+v -> %+v, %v", r, back, err)
	}
}

func compareJSONPaths(t *testing.T, payload []byte) {
	if !utf8Valid(payload) {
		return
	}
	var fast jsonFields
	ferr := scanJSON(payload, &fast)
	if errors.Is(ferr, errFallback) {
		return
	}
	slow, serr := slowJSON(payload)
	if (ferr == nil) != (serr == nil) {
		t.Fatalf("fast scanner error %v, encoding/json error %v", ferr, serr)
	}
	if ferr != nil {
		return
	}
	dec := &Decoder{}
	a, aerr := dec.fromJSON(&fast, "t/x", now)
	b, berr := dec.fromJSON(&slow, "t/x", now)
	if a != b || errString(aerr) != errString(berr) || fast.unknown != slow.unknown {
		t.Fatalf("fast %+v %v %v\nslow %+v %v %v", a, aerr, fast.unknown, b, berr, slow.unknown)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
