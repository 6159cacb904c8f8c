package model

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
	d := Decoder{b: b}
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
	b = AppendString(b, p.Alarm)
	b = AppendString(b, p.Region)
	return AppendReading(b, p.Reading)
}

// DecodePoint decodes a Point encoded by AppendPoint.
func DecodePoint(b []byte) (Point, error) {
	d := Decoder{b: b}
	var p Point
	if v := d.Byte(); d.err == nil && v != pointVersion {
		return p, fmt.Errorf("%w: point version %d", ErrCorrupt, v)
	}
	p.Window = int64(d.Uint64())
	p.Alarm = d.Text()
	p.Region = d.Text()
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

// AppendString appends s as a uvarint length and its bytes.
func AppendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// Decoder reads the fields of a binary encoding in order and remembers the
// first error (wrapping ErrCorrupt); a failed read returns zero.
type Decoder struct {
	b   []byte
	err error
}

// NewDecoder returns a Decoder over b.
func NewDecoder(b []byte) *Decoder { return &Decoder{b: b} }

// Err is the first error met, nil if every read succeeded.
func (d *Decoder) Err() error { return d.err }

// Len is the number of bytes not read yet.
func (d *Decoder) Len() int { return len(d.b) }

// Fail records a corruption error about what, unless one is recorded.
func (d *Decoder) Fail(what string) { d.fail(what) }

func (d *Decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: short or bad %s", ErrCorrupt, what)
	}
	d.b = nil
}

func (d *Decoder) Byte() byte {
	if len(d.b) < 1 {
		d.fail("byte")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *Decoder) Uint64() uint64 {
	if len(d.b) < 8 {
		d.fail("fixed64")
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *Decoder) Uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *Decoder) Varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *Decoder) Text() string {
	n := d.Uvarint()
	if d.err != nil || n > uint64(len(d.b)) || n > MaxIDLen {
		d.fail("string")
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *Decoder) reading() (Reading, error) {
	var r Reading
	if v := d.Byte(); d.err == nil && v != readingVersion {
		return r, fmt.Errorf("%w: reading version %d", ErrCorrupt, v)
	}
	flags := d.Byte()
	r.Stamped = flags&flagStamped != 0
	r.Time = int64(d.Uint64())
	r.Seq = d.Uvarint()
	r.Lat = math.Float64frombits(d.Uint64())
	r.Lon = math.Float64frombits(d.Uint64())
	r.Temperature = d.Varint()
	r.Power = d.Varint()
	r.Load = d.Varint()
	r.Fuel = d.Varint()
	r.GeneratorID = d.Text()
	if d.err == nil && r.GeneratorID == "" {
		d.err = fmt.Errorf("%w: empty generator id", ErrCorrupt)
	}
	return r, d.err
}
