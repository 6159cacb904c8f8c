package spool

import (
	"encoding/binary"
	"hash/crc32"
	"testing"
)

func TestTableCRCMatchesLibrary(t *testing.T) {
	for _, stream := range []string{"", "raw", "downsampled", string(make([]byte, 300))} {
		want := crc32.Update(0, castagnoli, append([]byte(stream), 0))
		if got := streamSeed(stream); got != want {
			t.Fatalf("seed %q: %x want %x", stream, got, want)
		}
		for _, seq := range []uint64{0, 1, 1 << 40, ^uint64(0)} {
			k := binary.BigEndian.AppendUint64(nil, seq)
			if got, want := sealCRC(want, seq), crc32.Update(want, castagnoli, k); got != want {
				t.Fatalf("seal %d: %x want %x", seq, got, want)
			}
		}
	}
}
