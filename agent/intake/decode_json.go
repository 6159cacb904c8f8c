package intake

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"unsafe"

	"github.com/edgespool/edgespool/agent/model"
)

// jsonFields holds the raw value tokens of the keys the agent uses (nil when
// absent). The fast scanner and the encoding/json fallback both fill it, and
// one interpretation step turns it into a Reading, so both paths agree.
type jsonFields struct {
	id, lat, lon, temperature, power, load, fuel, time, ts, seq []byte
	unknown                                                     bool
}

func (f *jsonFields) set(key []byte, tok []byte) {
	switch string(key) {
	case "generatorID":
		f.id = tok
	case "lat":
		f.lat = tok
	case "lon":
		f.lon = tok
	case "temperature":
		f.temperature = tok
	case "power":
		f.power = tok
	case "load":
		f.load = tok
	case "fuel":
		f.fuel = tok
	case "time":
		f.time = tok
	case "ts":
		f.ts = tok
	case "seq":
		f.seq = tok
	default:
		f.unknown = true
	}
}

func (dec *Decoder) decodeJSON(dst *Decoded, topic string, payload []byte, now int64) error {
	var f jsonFields
	err := scanJSON(payload, &f)
	if errors.Is(err, errFallback) {
		f, err = slowJSON(payload)
	}
	if err != nil {
		return err
	}
	r, err := dec.fromJSON(&f, topic, now)
	if err != nil {
		return err
	}
	dst.Readings = append(dst.Readings, r)
	dst.UnknownFields = dst.UnknownFields || f.unknown
	return nil
}

// slowJSON fills jsonFields with encoding/json. It is the fallback for
// payloads the fast scanner declines (deep nesting) and the reference that
// the fuzz test holds the fast scanner to.
func slowJSON(payload []byte) (jsonFields, error) {
	var f jsonFields
	if firstNonSpace(payload) != '{' {
		return f, reject(ReasonParse, "JSON payload is not an object")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(payload, &m); err != nil {
		return f, reject(ReasonParse, "bad JSON: %v", err)
	}
	for k, v := range m {
		f.set([]byte(k), v)
	}
	return f, nil
}

func (dec *Decoder) fromJSON(f *jsonFields, topic string, now int64) (model.Reading, error) {
	var r model.Reading
	id, err := jsonString("generatorID", f.id)
	if err != nil {
		return r, err
	}
	for _, fl := range []struct {
		name string
		tok  []byte
		dst  *float64
	}{{"lat", f.lat, &r.Lat}, {"lon", f.lon, &r.Lon}} {
		if *fl.dst, err = jsonFloat(fl.name, fl.tok); err != nil {
			return r, err
		}
	}
	for _, in := range []struct {
		name string
		tok  []byte
		dst  *int64
	}{{"temperature", f.temperature, &r.Temperature}, {"power", f.power, &r.Power},
		{"load", f.load, &r.Load}, {"fuel", f.fuel, &r.Fuel}} {
		if *in.dst, err = jsonInt(in.name, in.tok); err != nil {
			return r, err
		}
	}
	if r.Seq, err = jsonSeq(f.seq); err != nil {
		return r, err
	}
	if r.Time, err = jsonTime(f.time, f.ts); err != nil {
		return r, err
	}
	hasTime := !isNull(f.time) || !isNull(f.ts)
	return r, dec.finish(&r, id, hasTime, topic, now)
}

func isNull(tok []byte) bool { return tok == nil || string(tok) == "null" }

func jsonString(name string, tok []byte) ([]byte, error) {
	switch {
	case isNull(tok):
		return nil, nil
	case tok[0] != '"':
		return nil, reject(ReasonWrongType, "%s must be a string", name)
	case bytes.IndexByte(tok, '\\') < 0:
		return tok[1 : len(tok)-1], nil
	}
	var s string
	if err := json.Unmarshal(tok, &s); err != nil {
		return nil, reject(ReasonParse, "bad string for %s", name)
	}
	return []byte(s), nil
}

// number checks that tok is a JSON number and reports whether it is an
// integer literal (no fraction, no exponent).
func number(name string, tok []byte) (isInt bool, err error) {
	switch {
	case isNull(tok):
		return false, reject(ReasonMissingField, "%s is missing", name)
	case tok[0] != '-' && (tok[0] < '0' || tok[0] > '9'):
		return false, reject(ReasonWrongType, "%s must be a number", name)
	}
	for _, c := range tok {
		if c == '.' || c == 'e' || c == 'E' {
			return false, nil
		}
	}
	return true, nil
}

func jsonFloat(name string, tok []byte) (float64, error) {
	if _, err := number(name, tok); err != nil {
		return 0, err
	}
	v, err := strconv.ParseFloat(unsafeString(tok), 64)
	if err != nil {
		return 0, reject(ReasonNonFinite, "%s %s does not fit a float64", name, tok)
	}
	return v, nil
}

func jsonInt(name string, tok []byte) (int64, error) {
	isInt, err := number(name, tok)
	if err != nil {
		return 0, err
	}
	if isInt {
		if v, ok := parseIntFast(tok); ok {
			return v, nil
		}
		return 0, reject(ReasonOutOfRange, "%s %s does not fit an int64", name, tok)
	}
	f, err := strconv.ParseFloat(unsafeString(tok), 64)
	if err != nil {
		return 0, reject(ReasonNonFinite, "%s %s does not fit a float64", name, tok)
	}
	v, err := floatToInt(f)
	switch {
	case errors.Is(err, errNotInteger):
		return 0, reject(ReasonNotInteger, "%s must be an integer, got %s", name, tok)
	case err != nil:
		return 0, reject(ReasonOutOfRange, "%s %s does not fit an int64", name, tok)
	}
	return v, nil
}

func jsonSeq(tok []byte) (uint64, error) {
	if isNull(tok) {
		return 0, nil
	}
	v, err := jsonInt("seq", tok)
	if err != nil {
		return 0, err
	}
	if v < 0 {
		return 0, reject(ReasonOutOfRange, "seq %d is negative", v)
	}
	return uint64(v), nil
}

func jsonTime(timeTok, tsTok []byte) (int64, error) {
	tok := timeTok
	if isNull(tok) {
		tok = tsTok
	}
	if isNull(tok) {
		return 0, nil
	}
	if tok[0] == '"' {
		s, err := jsonString("time", tok)
		if err != nil {
			return 0, err
		}
		return parseRFC3339(s)
	}
	isInt, err := number("time", tok)
	if err != nil {
		return 0, err
	}
	if isInt {
		if v, ok := parseIntFast(tok); ok {
			return epochIntToNanos(v)
		}
	}
	f, err := strconv.ParseFloat(unsafeString(tok), 64)
	if err != nil {
		return 0, reject(ReasonBadTime, "time %s out of range", tok)
	}
	return epochToNanos(f)
}

// parseIntFast parses a JSON integer literal; ok is false on overflow.
func parseIntFast(b []byte) (int64, bool) {
	neg := b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) > 18 {
		v, err := strconv.ParseInt(unsafeString(b), 10, 64)
		if err != nil {
			return 0, false
		}
		if neg {
			v = -v
		}
		return v, true
	}
	var v int64
	for _, c := range b {
		v = v*10 + int64(c-'0')
	}
	if neg {
		v = -v
	}
	return v, true
}

func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
