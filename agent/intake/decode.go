package intake

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/edgespool/edgespool/agent/model"
)

// Reasons a payload is rejected. They are the values of the "reason" label of
// edgespool_intake_rejected_total and of DeadLetter.Reason.
const (
	ReasonTooLarge     = "too_large"     // payload over the configured maximum
	ReasonEmpty        = "empty"         // zero-length payload
	ReasonParse        = "parse"         // not JSON / line protocol, or not UTF-8
	ReasonWrongType    = "wrong_type"    // e.g. a string where a number belongs
	ReasonNotInteger   = "not_integer"   // fraction in an integer field (812.5)
	ReasonNonFinite    = "non_finite"    // NaN, ±Inf, or a number that overflows float64
	ReasonMissingID    = "missing_id"    // no generatorID in payload nor topic
	ReasonBadID        = "bad_id"        // id too long or with control/wildcard characters
	ReasonMissingField = "missing_field" // one of the six reading fields is absent
	ReasonOutOfRange   = "out_of_range"  // absurd value (see the limits in the package doc)
	ReasonBadTime      = "bad_time"      // unparsable or implausible event time
)

// Reasons lists every rejection reason, for pre-creating metric series.
var Reasons = []string{ReasonTooLarge, ReasonEmpty, ReasonParse, ReasonWrongType, ReasonNotInteger,
	ReasonNonFinite, ReasonMissingID, ReasonBadID, ReasonMissingField, ReasonOutOfRange, ReasonBadTime}

// DecodeError is the error of a rejected payload.
type DecodeError struct {
	Reason string // one of the Reason constants
	Detail string
}

func (e *DecodeError) Error() string { return e.Reason + ": " + e.Detail }

func reject(reason, format string, a ...any) *DecodeError {
	return &DecodeError{Reason: reason, Detail: fmt.Sprintf(format, a...)}
}

// Format selects the payload decoder.
type Format int

const (
	FormatAuto Format = iota // '{' first → JSON, else line protocol
	FormatJSON
	FormatLine
)

// Limits on plausible values; anything outside is ReasonOutOfRange.
const (
	minTemperature, maxTemperature = -273, 5000
	maxPower                       = 1e9
	maxFuel                        = 1e12
	minEventTime                   = 946684800 * int64(time.Second) // 2000-01-01T00:00:00Z
)

// Decoder turns MQTT payloads into readings. The zero value is usable but
// has no size limit and allows any future time; a Decoder is not safe for
// concurrent use (it interns generator ids).
type Decoder struct {
	Format     Format
	MaxPayload int           // bytes; 0 = unlimited
	MaxFuture  time.Duration // event time may lead receive time by this much; 0 = unlimited

	ids map[string]string // interned generator ids
}

// Decoded is what one payload yields.
type Decoded struct {
	Readings      []model.Reading
	UnknownFields bool // the payload had keys the agent does not use (ignored)
}

// Decode appends the readings of payload to d.Readings. topic supplies the
// generator id when the payload has none; now is the receive time (Unix ns)
// stamped on readings without a time. A payload is accepted whole or
// rejected whole with a *DecodeError.
func (dec *Decoder) Decode(dst *Decoded, topic string, payload []byte, now int64) error {
	switch {
	case len(payload) == 0:
		return reject(ReasonEmpty, "empty payload")
	case dec.MaxPayload > 0 && len(payload) > dec.MaxPayload:
		return reject(ReasonTooLarge, "payload of %d bytes exceeds %d", len(payload), dec.MaxPayload)
	case !utf8.Valid(payload):
		return reject(ReasonParse, "payload is not valid UTF-8")
	}
	json := dec.Format == FormatJSON || dec.Format == FormatAuto && firstNonSpace(payload) == '{'
	n := len(dst.Readings)
	var err error
	if json {
		err = dec.decodeJSON(dst, topic, payload, now)
	} else {
		err = dec.decodeLines(dst, topic, payload, now)
	}
	if err != nil {
		dst.Readings = dst.Readings[:n]
	}
	return err
}

func firstNonSpace(b []byte) byte {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return c
		}
	}
	return 0
}

// finish checks a reading assembled by either format and fills id and time.
func (dec *Decoder) finish(r *model.Reading, id []byte, hasTime bool, topic string, now int64) error {
	if len(id) == 0 {
		id = topicID(topic)
		if len(id) == 0 {
			return reject(ReasonMissingID, "no generatorID in payload and none in topic %q", topic)
		}
	}
	if err := checkID(id); err != nil {
		return err
	}
	r.GeneratorID = dec.intern(id)
	if !hasTime {
		r.Time, r.Stamped = now, true
	} else if r.Time < minEventTime || dec.MaxFuture > 0 && r.Time > now+int64(dec.MaxFuture) {
		return reject(ReasonBadTime, "event time %s outside [2000-01-01, receive time + %v]",
			time.Unix(0, r.Time).UTC().Format(time.RFC3339Nano), dec.MaxFuture)
	}
	return checkRanges(r)
}

func topicID(topic string) []byte {
	i := strings.LastIndexByte(topic, '/')
	return []byte(topic[i+1:])
}

func checkID(id []byte) error {
	if len(id) > model.MaxIDLen {
		return reject(ReasonBadID, "generator id of %d bytes exceeds %d", len(id), model.MaxIDLen)
	}
	for _, c := range id {
		if c < 0x20 || c == 0x7f || c == '+' || c == '#' || c == '/' {
			return reject(ReasonBadID, "generator id %q contains a control, wildcard or '/' character", id)
		}
	}
	return nil
}

func checkRanges(r *model.Reading) error {
	switch {
	case r.Lat < -90 || r.Lat > 90:
		return reject(ReasonOutOfRange, "lat %v outside [-90, 90]", r.Lat)
	case r.Lon < -180 || r.Lon > 180:
		return reject(ReasonOutOfRange, "lon %v outside [-180, 180]", r.Lon)
	case r.Load < 0 || r.Load > 100:
		return reject(ReasonOutOfRange, "load %d outside [0, 100]", r.Load)
	case r.Temperature < minTemperature || r.Temperature > maxTemperature:
		return reject(ReasonOutOfRange, "temperature %d outside [%d, %d]", r.Temperature, minTemperature, maxTemperature)
	case r.Power < 0 || r.Power > maxPower:
		return reject(ReasonOutOfRange, "power %d outside [0, %d]", r.Power, int64(maxPower))
	case r.Fuel < -maxFuel || r.Fuel > maxFuel:
		return reject(ReasonOutOfRange, "fuel %d outside [%d, %d]", r.Fuel, int64(-maxFuel), int64(maxFuel))
	}
	return nil
}

// intern returns a string equal to id, shared between readings of one
// generator so that steady-state decoding does not allocate ids.
func (dec *Decoder) intern(id []byte) string {
	if s, ok := dec.ids[string(id)]; ok {
		return s
	}
	s := string(id)
	if dec.ids == nil {
		dec.ids = make(map[string]string)
	}
	if len(dec.ids) < 100000 {
		dec.ids[s] = s
	}
	return s
}

// Magnitude limits that tell the unit of an epoch number: below
// epochSecondsBelow it is seconds, below epochMillisBelow milliseconds,
// below epochMicrosBelow microseconds, else nanoseconds.
const (
	epochSecondsBelow = 1e11
	epochMillisBelow  = 1e14
	epochMicrosBelow  = 1e17
)

// epochToNanos converts an epoch number to Unix nanoseconds, telling the
// unit by magnitude: |v| < 1e11 seconds, < 1e14 milliseconds, < 1e17
// microseconds, else nanoseconds. (1e11 s is the year 5138; 1e11 ms is 1973.)
func epochToNanos(v float64) (int64, error) {
	a := math.Abs(v)
	var mult float64
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return 0, reject(ReasonNonFinite, "time is not finite")
	case a < epochSecondsBelow:
		mult = 1e9
	case a < epochMillisBelow:
		mult = 1e6
	case a < epochMicrosBelow:
		mult = 1e3
	default:
		mult = 1
	}
	ns := v * mult
	if ns >= math.MaxInt64 || ns <= math.MinInt64 {
		return 0, reject(ReasonBadTime, "epoch time %v out of range", v)
	}
	return int64(math.Round(ns)), nil
}

// epochIntToNanos is epochToNanos for integers, exact at nanosecond scale.
func epochIntToNanos(v int64) (int64, error) {
	a := v
	if a < 0 {
		if a == math.MinInt64 {
			return 0, reject(ReasonBadTime, "epoch time %d out of range", v)
		}
		a = -a
	}
	var mult int64
	switch {
	case a < epochSecondsBelow:
		mult = 1e9
	case a < epochMillisBelow:
		mult = 1e6
	case a < epochMicrosBelow:
		mult = 1e3
	default:
		return v, nil
	}
	if a > math.MaxInt64/mult {
		return 0, reject(ReasonBadTime, "epoch time %d out of range", v)
	}
	return v * mult, nil
}

// parseRFC3339 parses an RFC 3339 time with optional fraction.
func parseRFC3339(s []byte) (int64, error) {
	t, err := time.Parse(time.RFC3339Nano, string(s))
	if err != nil {
		return 0, reject(ReasonBadTime, "time %q is not RFC 3339", s)
	}
	if t.Year() < 1678 || t.Year() > 2261 {
		return 0, reject(ReasonBadTime, "time %q out of range", s)
	}
	return t.UnixNano(), nil
}

var errNotInteger = errors.New("not an integer")

// floatToInt converts an integral float to int64.
func floatToInt(f float64) (int64, error) {
	if f != math.Trunc(f) {
		return 0, errNotInteger
	}
	if f >= 9.2e18 || f <= -9.2e18 {
		return 0, errors.New("out of int64 range")
	}
	return int64(f), nil
}
