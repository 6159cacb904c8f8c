package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Encodings of the on-disk values; doc.go specifies them.

const (
	formatVersion = 1
	formatMarker  = "edgespool-spool/1"

	recordHeaderLen = 21 // version, crc, appended, time
	streamStateLen  = 53
	cursorHeaderLen = 21
	maxStreamName   = 255
)

var (
	bucketSpool   = []byte("spool")
	bucketStreams = []byte("streams")
	bucketCursors = []byte("cursors")
	bucketRecords = []byte("records")
	keyFormat     = []byte("format")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt marks a value whose version, length or checksum is wrong.
var ErrCorrupt = errors.New("spool: corrupt data")

// seqKey returns the bbolt key of a sequence number.
func seqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq)
}

// keySeq decodes a record key; ok is false for a key of the wrong length.
func keySeq(k []byte) (uint64, bool) {
	if len(k) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(k), true
}

// recordLen returns the encoded length of a record value.
func recordLen(r *Record) int {
	return recordHeaderLen + uvarintLen(uint64(len(r.Key))) + len(r.Key) + len(r.Value)
}

// logicalSize returns the logical bytes of a record: its bbolt key and value.
func logicalSize(valueLen int) int64 { return int64(8 + valueLen) }

// appendRecord appends the encoded value of r (with seq and appended time)
// to dst.
func appendRecord(dst []byte, r *Record, seq uint64, appended int64) []byte {
	dst, partial := appendRecordBody(dst, r, appended)
	sealRecord(dst[len(dst)-recordLen(r):], partial, seq)
	return dst
}

// appendRecordBody appends the value of r with its CRC left open: the
// returned partial CRC covers the stream name and the body; sealRecord adds
// the Seq once the commit loop has assigned it. Callers encode in their own
// goroutine, so the loop only seals and puts.
func appendRecordBody(dst []byte, r *Record, appended int64) ([]byte, uint32) {
	start := len(dst)
	dst = append(dst, formatVersion, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint64(dst, uint64(appended))
	dst = binary.BigEndian.AppendUint64(dst, uint64(r.Time))
	dst = binary.AppendUvarint(dst, uint64(len(r.Key)))
	dst = append(dst, r.Key...)
	dst = append(dst, r.Value...)
	return dst, bodyCRC(r.Stream, dst[start+5:])
}

// sealRecord completes the CRC of an encoded value with its Seq.
func sealRecord(v []byte, partial uint32, seq uint64) {
	binary.BigEndian.PutUint32(v[1:], sealCRC(partial, seq))
}

// The record CRC covers the stream name, one NUL byte, the value after the
// CRC field, then the 8-byte key, so a value found anywhere in the file can
// be attributed to its stream and sequence number.
func bodyCRC(stream string, body []byte) uint32 {
	return crc32.Update(streamSeed(stream), castagnoli, body)
}

// streamSeed is the CRC of the stream name and its NUL byte. It and
// sealCRC update the CRC byte by byte from the table: handing a small stack
// buffer to the hardware CRC would move it to the heap on every record.
func streamSeed(stream string) uint32 {
	crc := ^uint32(0)
	for i := 0; i < len(stream); i++ {
		crc = castagnoli[byte(crc)^stream[i]] ^ crc>>8
	}
	return ^(castagnoli[byte(crc)] ^ crc>>8)
}

func sealCRC(partial uint32, seq uint64) uint32 {
	crc := ^partial
	for shift := 56; shift >= 0; shift -= 8 {
		crc = castagnoli[byte(crc)^byte(seq>>shift)] ^ crc>>8
	}
	return ^crc
}

func recordCRC(stream string, seq uint64, body []byte) uint32 {
	return sealCRC(bodyCRC(stream, body), seq)
}

// encodedBatch holds the values of one Append or Commit call, encoded in
// one arena by the caller before it queues.
type encodedBatch struct {
	vals    [][]byte
	partial []uint32
}

func encodeBatch(recs []Record, appended int64) *encodedBatch {
	total := 0
	for i := range recs {
		total += recordLen(&recs[i])
	}
	arena := make([]byte, 0, total)
	e := &encodedBatch{vals: make([][]byte, len(recs)), partial: make([]uint32, len(recs))}
	for i := range recs {
		start := len(arena)
		arena, e.partial[i] = appendRecordBody(arena, &recs[i], appended)
		e.vals[i] = arena[start:len(arena):len(arena)]
	}
	return e
}

// recordView is a decoded record whose Key and Value alias the input.
type recordView struct {
	Appended int64
	Time     int64
	Key      []byte
	Value    []byte
}

// decodeRecord checks and decodes the value v stored under seq in stream.
// It never panics, whatever v holds.
func decodeRecord(stream string, seq uint64, v []byte) (recordView, error) {
	var rv recordView
	if len(v) < recordHeaderLen+1 {
		return rv, fmt.Errorf("record %d: short value (%d bytes): %w", seq, len(v), ErrCorrupt)
	}
	if v[0] != formatVersion {
		return rv, fmt.Errorf("record %d: version %d: %w", seq, v[0], ErrCorrupt)
	}
	if binary.BigEndian.Uint32(v[1:]) != recordCRC(stream, seq, v[5:]) {
		return rv, fmt.Errorf("record %d: checksum mismatch: %w", seq, ErrCorrupt)
	}
	rv.Appended = int64(binary.BigEndian.Uint64(v[5:]))
	rv.Time = int64(binary.BigEndian.Uint64(v[13:]))
	klen, n := binary.Uvarint(v[recordHeaderLen:])
	rest := v[recordHeaderLen:]
	if n <= 0 || klen > uint64(len(rest)-n) {
		return rv, fmt.Errorf("record %d: bad key length: %w", seq, ErrCorrupt)
	}
	rv.Key = rest[n : n+int(klen)]
	rv.Value = rest[n+int(klen):]
	return rv, nil
}

// recordAppended returns the appended time of a record value without
// checking it (0 when too short).
func recordAppended(v []byte) int64 {
	if len(v) < recordHeaderLen {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v[5:]))
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// streamState is the persisted state of a stream.
type streamState struct {
	LastSeq uint64
	Trimmed uint64 // every Seq <= Trimmed left the stream for good
	Records uint64
	Bytes   int64
	Dropped uint64
	Corrupt uint64
}

func (st streamState) encode() []byte {
	b := make([]byte, 5, streamStateLen)
	b[0] = formatVersion
	for _, x := range []uint64{st.LastSeq, st.Trimmed, st.Records, uint64(st.Bytes), st.Dropped, st.Corrupt} {
		b = binary.BigEndian.AppendUint64(b, x)
	}
	binary.BigEndian.PutUint32(b[1:], crc32.Checksum(b[5:], castagnoli))
	return b
}

func decodeStreamState(v []byte) (streamState, error) {
	var st streamState
	if len(v) != streamStateLen || v[0] != formatVersion {
		return st, fmt.Errorf("stream state: bad length or version: %w", ErrCorrupt)
	}
	if binary.BigEndian.Uint32(v[1:]) != crc32.Checksum(v[5:], castagnoli) {
		return st, fmt.Errorf("stream state: checksum mismatch: %w", ErrCorrupt)
	}
	u := func(i int) uint64 { return binary.BigEndian.Uint64(v[5+8*i:]) }
	st = streamState{LastSeq: u(0), Trimmed: u(1), Records: u(2), Bytes: int64(u(3)), Dropped: u(4), Corrupt: u(5)}
	return st, nil
}

// cursorState is the persisted state of one consumer on one stream.
type cursorState struct {
	Seq     uint64
	Dropped uint64
	Meta    []byte
}

func (cs cursorState) encode() []byte {
	b := make([]byte, 5, cursorHeaderLen+len(cs.Meta))
	b[0] = formatVersion
	b = binary.BigEndian.AppendUint64(b, cs.Seq)
	b = binary.BigEndian.AppendUint64(b, cs.Dropped)
	b = append(b, cs.Meta...)
	binary.BigEndian.PutUint32(b[1:], crc32.Checksum(b[5:], castagnoli))
	return b
}

// decodeCursor decodes a cursor value; Meta is copied.
func decodeCursor(v []byte) (cursorState, error) {
	var cs cursorState
	if len(v) < cursorHeaderLen || v[0] != formatVersion {
		return cs, fmt.Errorf("cursor: bad length or version: %w", ErrCorrupt)
	}
	if binary.BigEndian.Uint32(v[1:]) != crc32.Checksum(v[5:], castagnoli) {
		return cs, fmt.Errorf("cursor: checksum mismatch: %w", ErrCorrupt)
	}
	cs.Seq = binary.BigEndian.Uint64(v[5:])
	cs.Dropped = binary.BigEndian.Uint64(v[13:])
	if len(v) > cursorHeaderLen {
		cs.Meta = append([]byte(nil), v[cursorHeaderLen:]...)
	}
	return cs, nil
}

// cursorID names a (consumer, stream) pair.
type cursorID struct{ Consumer, Stream string }

func (id cursorID) key() []byte {
	k := make([]byte, 0, len(id.Consumer)+1+len(id.Stream))
	k = append(k, id.Consumer...)
	k = append(k, 0)
	return append(k, id.Stream...)
}

func parseCursorKey(k []byte) (cursorID, bool) {
	for i, c := range k {
		if c == 0 {
			return cursorID{string(k[:i]), string(k[i+1:])}, i > 0 && i < len(k)-1
		}
	}
	return cursorID{}, false
}

// checkName validates a stream or consumer name.
func checkName(kind, name string) error {
	if name == "" || len(name) > maxStreamName {
		return fmt.Errorf("%s name %q: must be 1..%d bytes: %w", kind, name, maxStreamName, ErrInvalid)
	}
	for i := 0; i < len(name); i++ {
		if name[i] == 0 {
			return fmt.Errorf("%s name %q: NUL byte: %w", kind, name, ErrInvalid)
		}
	}
	return nil
}
