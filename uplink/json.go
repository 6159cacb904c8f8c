package uplink

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// appendJSON appends the Kafka record value of it: the reference payload
// ({"generatorID","lat","lon","temperature","power","load","fuel"}) plus
// "time" (RFC 3339, nanoseconds) and "seq" when known; downsampled points
// add "alarm", "region" and "window". The output equals encoding/json's
// for the same fields; it is hand-written because it runs once per record.
func appendJSON(b []byte, it item) []byte {
	r := it.Reading
	b = append(b, `{"generatorID":`...)
	b = appendJSONString(b, r.GeneratorID)
	b = append(b, `,"lat":`...)
	b = appendJSONFloat(b, r.Lat)
	b = append(b, `,"lon":`...)
	b = appendJSONFloat(b, r.Lon)
	b = append(b, `,"temperature":`...)
	b = strconv.AppendInt(b, r.Temperature, 10)
	b = append(b, `,"power":`...)
	b = strconv.AppendInt(b, r.Power, 10)
	b = append(b, `,"load":`...)
	b = strconv.AppendInt(b, r.Load, 10)
	b = append(b, `,"fuel":`...)
	b = strconv.AppendInt(b, r.Fuel, 10)
	b = append(b, `,"time":"`...)
	b = time.Unix(0, r.Time).UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if r.Seq != 0 {
		b = append(b, `,"seq":`...)
		b = strconv.AppendUint(b, r.Seq, 10)
	}
	if it.down {
		b = append(b, `,"alarm":`...)
		b = appendJSONString(b, it.Alarm)
		b = append(b, `,"region":`...)
		b = appendJSONString(b, it.Region)
		b = append(b, `,"window":"`...)
		b = time.Unix(0, it.Window).UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	return append(b, '}')
}

// appendJSONFloat formats f like encoding/json (f must be finite).
func appendJSONFloat(b []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	start := len(b)
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9, as encoding/json does
		n := len(b) - start
		if n >= 4 && b[len(b)-4] == 'e' && b[len(b)-3] == '-' && b[len(b)-2] == '0' {
			b[len(b)-2] = b[len(b)-1]
			b = b[:len(b)-1]
		}
	}
	return b
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string, escaping like encoding/json
// (without its HTML escaping); invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c >= 0x20:
				b = append(b, c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
