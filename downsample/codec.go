package downsample

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Binary encodings, stored as spool record values. All integers are
// little-endian; varints are encoding/binary's. The first byte is the
// encoding version so that stored data survives upgrades.
//
//	reading v1: 0x01 flags(1) time(8) seq(uvarint) lat(8) lon(8)
//	            temperature(varint) power(varint) load(varint) fuel(varint)
//	            idLen(uvarint) id
//	point   v1: 0x01 window(8) alarmLen(uvarint) alarm regionLen(uvarint)
//	            region reading(v1 encoding as above)
const (
	readingVersion = 1
	pointVersion   = 1

	flagStamped = 1 << 0

	// MaxIDLen bounds a generator id; longer ids are rejected at intake.
	MaxIDLen = 256
)

// ErrCorrupt is wrapped by every decoding error.
var ErrCorrupt = errors.New("corrupt encoding")

// AppendReading appends the binary encoding of r to b.
func AppendReading(b []byte, r Reading) []byte {
	var flags byte
	if r.Stamped {
		flags |= flagStamped
	}
	b = append(b, readingVersion, flags)
	b = binary.LittleEndian.AppendUint64(b, uint64(r.Time))
	b = binary.AppendUvarint(b, r.Seq)
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(r.Lat))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(r.Lon))
	b = binary.AppendVarint(b, r.Temperature)
	b = binary.AppendVarint(b, r.Power)
	b = binary.AppendVarint(b, r.Load)
	b = binary.AppendVarint(b, r.Fuel)
	b = binary.AppendUvarint(b, uint64(len(r.GeneratorID)))
	return append(b, r.GeneratorID...)
}

// DecodeReading decodes a Reading encoded by AppendReading.
func DecodeReading(b []byte) (Reading, error) {
	d := decoder{b: b}
	r, err := d.reading()
	if err == nil && len(d.b) != 0 {
		err = fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(d.b))
	}
	return r, err
}

// AppendPoint appends the binary encoding of p to b.
func AppendPoint(b []byte, p Point) []byte {
	b = append(b, pointVersion)
	b = binary.LittleEndian.AppendUint64(b, uint64(p.Window))
	b = appendString(b, p.Alarm)
	b = appendString(b, p.Region)
	return AppendReading(b, p.Reading)
}

// DecodePoint decodes a Point encoded by AppendPoint.
func DecodePoint(b []byte) (Point, error) {
	d := decoder{b: b}
	var p Point
	if v := d.byte(); d.err == nil && v != pointVersion {
		return p, fmt.Errorf("%w: point version %d", ErrCorrupt, v)
	}
	p.Window = int64(d.uint64())
	p.Alarm = d.string()
	p.Region = d.string()
	r, err := d.reading()
	if err != nil {
		return p, err
	}
	if len(d.b) != 0 {
		return p, fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(d.b))
	}
	p.Reading = r
	return p, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decoder reads fields in order and remembers the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: short or bad %s", ErrCorrupt, what)
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail("byte")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uint64() uint64 {
	if len(d.b) < 8 {
		d.fail("fixed64")
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) || n > MaxIDLen {
		d.fail("string")
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) reading() (Reading, error) {
	var r Reading
	if v := d.byte(); d.err == nil && v != readingVersion {
		return r, fmt.Errorf("%w: reading version %d", ErrCorrupt, v)
	}
	flags := d.byte()
	r.Stamped = flags&flagStamped != 0
	r.Time = int64(d.uint64())
	r.Seq = d.uvarint()
	r.Lat = math.Float64frombits(d.uint64())
	r.Lon = math.Float64frombits(d.uint64())
	r.Temperature = d.varint()
	r.Power = d.varint()
	r.Load = d.varint()
	r.Fuel = d.varint()
	r.GeneratorID = d.string()
	if d.err == nil && r.GeneratorID == "" {
		d.err = fmt.Errorf("%w: empty generator id", ErrCorrupt)
	}
	return r, d.err
}
