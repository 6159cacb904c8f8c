package uplink

import (
	"bytes"
	"io"
	"testing"

	"github.com/segmentio/kafka-go/compress"
)

// TestLZ4CodecWritesSmallBlocks: the codec kafka-go compresses with writes
// lz4 frames of 64 KiB blocks (block size index 4 in the frame
// descriptor), and kafka-go's reader reads them back, also from a pooled
// writer.
func TestLZ4CodecWritesSmallBlocks(t *testing.T) {
	codec := compress.Lz4.Codec()
	if _, ok := codec.(*lz4Codec); !ok {
		t.Fatalf("kafka-go's lz4 codec is %T, want *lz4Codec", codec)
	}
	data := bytes.Repeat([]byte(`{"generatorID":"generator1","lat":40.1,"fuel":812}`), 8000)
	for round := range 2 {
		var frame bytes.Buffer
		w := codec.NewWriter(&frame)
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		// magic (4 bytes), FLG, BD: bits 4-6 of BD are the block size index.
		if b := frame.Bytes(); len(b) < 6 || b[5]>>4&7 != 4 {
			t.Fatalf("round %d: frame descriptor % x: want block size index 4 (64 KiB)", round, b[:min(6, len(b))])
		}
		r := codec.NewReader(&frame)
		got, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		r.Close()
		if !bytes.Equal(got, data) {
			t.Fatalf("round %d: read back %d bytes, want %d equal", round, len(got), len(data))
		}
	}
}
