package uplink

import (
	"io"
	"sync"

	"github.com/pierrec/lz4/v4"
	"github.com/segmentio/kafka-go/compress"
)

// kafka-go compresses with the codec of its global table, and its lz4
// codec writes frames of 4 MiB blocks: every partition batch compressed
// at once holds a 4 MiB buffer however small the batch, several of them
// while a write goes to several partitions. The sink installs a codec that
// writes 64 KiB blocks, as the Java producer does (brokers and consumers
// read any block size); reading is left to kafka-go's codec.
func init() {
	compress.Codecs[compress.Lz4] = &lz4Codec{Codec: compress.Codecs[compress.Lz4]}
}

// lz4Block is the block size of the frames the Kafka sink writes.
const lz4Block = lz4.Block64Kb

// lz4Codec is kafka-go's lz4 codec with writers of lz4Block blocks.
type lz4Codec struct {
	compress.Codec // Code, Name and NewReader
	writers        sync.Pool
}

// NewWriter returns a pooled lz4 writer to w; Close returns it to the pool.
func (c *lz4Codec) NewWriter(w io.Writer) io.WriteCloser {
	z, _ := c.writers.Get().(*lz4.Writer)
	if z == nil {
		z = lz4.NewWriter(w)
		_ = z.Apply(lz4.BlockSizeOption(lz4Block)) // a valid option on a new writer
	} else {
		z.Reset(w)
	}
	return &lz4Writer{Writer: z, pool: &c.writers}
}

type lz4Writer struct {
	*lz4.Writer
	pool *sync.Pool
}

func (w *lz4Writer) Close() error {
	z := w.Writer
	if z == nil {
		return nil
	}
	w.Writer = nil
	err := z.Close()
	z.Reset(nil)
	w.pool.Put(z)
	return err
}
