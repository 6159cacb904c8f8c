package spool

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgespool/edgespool/spool/internal/boltpages"
)

func FuzzDecodeRecord(f *testing.F) {
	for _, r := range []Record{
		{Stream: "raw", Key: "generator1", Time: 1700000000000000000, Value: []byte(`{"fuel":912}`)},
		{Stream: "raw", Key: "", Time: -1, Value: nil},
		{Stream: "downsampled", Key: string(make([]byte, 300)), Value: bytes.Repeat([]byte{0xff}, 40)},
	} {
		f.Add(r.Stream, uint64(7), appendRecord(nil, &r, 7, 42))
	}
	f.Add("raw", uint64(1), []byte{1, 0, 0, 0, 0})
	f.Add("raw", uint64(1), []byte{})
	f.Fuzz(func(t *testing.T, stream string, seq uint64, v []byte) {
		rv, err := decodeRecord(stream, seq, v)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to the same bytes.
		r := Record{Stream: stream, Key: string(rv.Key), Time: rv.Time, Value: rv.Value}
		if again := appendRecord(nil, &r, seq, rv.Appended); !bytes.Equal(again, v) {
			t.Fatalf("round trip differs:\n%x\n%x", v, again)
		}
		// Any change of seq or stream is detected.
		if _, err := decodeRecord(stream, seq+1, v); err == nil {
			t.Fatal("record accepted under another seq")
		}
		if _, err := decodeRecord(stream+"x", seq, v); err == nil {
			t.Fatal("record accepted under another stream")
		}
	})
}

func FuzzDecodeStateAndCursor(f *testing.F) {
	f.Add(streamState{LastSeq: 9, Trimmed: 3, Records: 6, Bytes: 100}.encode())
	f.Add(cursorState{Seq: 5, Dropped: 1, Meta: []byte("m")}.encode())
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, v []byte) {
		if st, err := decodeStreamState(v); err == nil && !bytes.Equal(st.encode(), v) {
			t.Fatal("stream state round trip differs")
		}
		if cs, err := decodeCursor(v); err == nil && !bytes.Equal(cs.encode(), v) {
			t.Fatal("cursor round trip differs")
		}
	})
}

// FuzzCheckAndParsePages feeds arbitrary files to the structural check and
// the page scanner: neither may panic, loop or read out of bounds.
func FuzzCheckAndParsePages(f *testing.F) {
	dir := f.TempDir()
	path := filepath.Join(dir, "seed.db")
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	if err := s.Append(f.Context(), recs("raw", 200, 40)); err != nil {
		f.Fatal(err)
	}
	_ = s.Close()
	seed, _ := os.ReadFile(path)
	f.Add(seed[:min(len(seed), 64<<10)])
	f.Add(make([]byte, 8192))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "f.db")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		_ = boltpages.Check(p)
		_ = boltpages.Scan(p, func(k, v []byte) { _, _ = keySeq(k) })
		boltpages.ParseLeaf(data, 0, func(k, v []byte) {})
	})
}
