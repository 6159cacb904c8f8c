package intake

import (
	"math"
	"strconv"

	"github.com/edgespool/edgespool/agent/model"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
)

// lineFields tracks which reading fields a line set.
type lineFields struct {
	lat, lon, temperature, power, load, fuel bool
}

// decodeLines decodes InfluxDB line protocol: one reading per line, the
// generator id from the generatorID tag (or a string field of that name, or
// the topic), the fields as in the JSON form, and an optional timestamp
// whose unit is told by magnitude like a JSON epoch time.
func (dec *Decoder) decodeLines(dst *Decoded, topic string, payload []byte, now int64) error {
	d := lineprotocol.NewDecoderWithBytes(payload)
	for d.Next() {
		r, err := dec.line(d, dst, topic, now)
		if err != nil {
			return err
		}
		dst.Readings = append(dst.Readings, r)
	}
	return nil
}

func (dec *Decoder) line(d *lineprotocol.Decoder, dst *Decoded, topic string, now int64) (model.Reading, error) {
	var r model.Reading
	if _, err := d.Measurement(); err != nil {
		return r, reject(ReasonParse, "line protocol: %v", err)
	}
	id, err := lineTags(d, dst)
	if err != nil {
		return r, err
	}
	var seen lineFields
	for {
		key, val, err := d.NextField()
		if err != nil {
			return r, reject(ReasonParse, "line protocol: %v", err)
		}
		if key == nil {
			break
		}
		if id, err = lineField(&r, &seen, dst, key, val, id); err != nil {
			return r, err
		}
	}
	if err := seen.complete(); err != nil {
		return r, err
	}
	var hasTime bool
	if r.Time, hasTime, err = lineTime(d); err != nil {
		return r, err
	}
	return r, dec.finish(&r, id, hasTime, topic, now)
}

func lineTags(d *lineprotocol.Decoder, dst *Decoded) ([]byte, error) {
	var id []byte
	for {
		k, v, err := d.NextTag()
		if err != nil {
			return nil, reject(ReasonParse, "line protocol: %v", err)
		}
		if k == nil {
			return id, nil
		}
		if string(k) == "generatorID" {
			id = append([]byte(nil), v...)
		} else {
			dst.UnknownFields = true
		}
	}
}

func lineField(r *model.Reading, seen *lineFields, dst *Decoded, key []byte, v lineprotocol.Value, id []byte) ([]byte, error) {
	var err error
	switch string(key) {
	case "generatorID":
		if v.Kind() != lineprotocol.String {
			return id, reject(ReasonWrongType, "generatorID must be a string")
		}
		if id == nil {
			id = []byte(v.StringV())
		}
	case "lat":
		r.Lat, err = lineFloat("lat", v)
		seen.lat = true
	case "lon":
		r.Lon, err = lineFloat("lon", v)
		seen.lon = true
	case "temperature":
		r.Temperature, err = lineInt("temperature", v)
		seen.temperature = true
	case "power":
		r.Power, err = lineInt("power", v)
		seen.power = true
	case "load":
		r.Load, err = lineInt("load", v)
		seen.load = true
	case "fuel":
		r.Fuel, err = lineInt("fuel", v)
		seen.fuel = true
	case "seq":
		var s int64
		if s, err = lineInt("seq", v); err == nil && s < 0 {
			err = reject(ReasonOutOfRange, "seq %d is negative", s)
		}
		r.Seq = uint64(s)
	default:
		dst.UnknownFields = true
	}
	return id, err
}

func (s *lineFields) complete() error {
	for _, f := range []struct {
		name string
		ok   bool
	}{{"lat", s.lat}, {"lon", s.lon}, {"temperature", s.temperature},
		{"power", s.power}, {"load", s.load}, {"fuel", s.fuel}} {
		if !f.ok {
			return reject(ReasonMissingField, "%s is missing", f.name)
		}
	}
	return nil
}

func lineFloat(name string, v lineprotocol.Value) (float64, error) {
	var f float64
	switch v.Kind() {
	case lineprotocol.Float:
		f = v.FloatV()
	case lineprotocol.Int:
		f = float64(v.IntV())
	case lineprotocol.Uint:
		f = float64(v.UintV())
	default:
		return 0, reject(ReasonWrongType, "%s must be a number", name)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, reject(ReasonNonFinite, "%s is not finite", name)
	}
	return f, nil
}

// lineInt accepts integers (…i, …u) and integral floats: line protocol
// writers often send fuel=812 (a float) for an integer field.
func lineInt(name string, v lineprotocol.Value) (int64, error) {
	switch v.Kind() {
	case lineprotocol.Int:
		return v.IntV(), nil
	case lineprotocol.Uint:
		if u := v.UintV(); u <= math.MaxInt64 {
			return int64(u), nil
		}
		return 0, reject(ReasonOutOfRange, "%s does not fit an int64", name)
	case lineprotocol.Float:
		f := v.FloatV()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, reject(ReasonNonFinite, "%s is not finite", name)
		}
		i, err := floatToInt(f)
		if err == errNotInteger {
			return 0, reject(ReasonNotInteger, "%s must be an integer, got %v", name, f)
		} else if err != nil {
			return 0, reject(ReasonOutOfRange, "%s does not fit an int64", name)
		}
		return i, nil
	}
	return 0, reject(ReasonWrongType, "%s must be a number", name)
}

func lineTime(d *lineprotocol.Decoder) (int64, bool, error) {
	b, err := d.TimeBytes()
	if err != nil {
		return 0, false, reject(ReasonParse, "line protocol: %v", err)
	}
	if b == nil {
		return 0, false, nil
	}
	v, err := strconv.ParseInt(unsafeString(b), 10, 64)
	if err != nil {
		return 0, true, reject(ReasonBadTime, "timestamp %q out of range", b)
	}
	ns, err := epochIntToNanos(v)
	return ns, true, err
}
