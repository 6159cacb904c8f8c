package downsample

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/edgespool/edgespool/agent/model"
)

// The engine keeps its durable state in the meta blob of its spool cursor,
// written in the same transaction as the derived points and the cursor:
//
//	meta v1: 0x01 through(uvarint) window(uvarint ns) floor(varint ns)
//	         count(uvarint) count × { idLen(uvarint) id delta(varint ns) }
//
// through is the last raw sequence number processed when the blob was
// written (readings up to it are not counted again after a restart). floor
// is the retention floor. Each entry is a generator whose frontier is above
// the floor, sorted by id; delta is its frontier minus the previous entry's
// (the first: minus floor), wrapping, so that similar frontiers take a byte.
// Generators not listed have their frontier at the floor. window is the
// window length the frontiers were computed with; frontiers are kept as
// absolute times, so a changed window length only makes the windows that
// straddle an old frontier count as closed.
const metaVersion = 1

// appendMeta appends the engine state: through and w's frontiers.
func appendMeta(b []byte, through uint64, w *Windower) []byte {
	b = append(b, metaVersion)
	b = binary.AppendUvarint(b, through)
	b = binary.AppendUvarint(b, uint64(w.window))
	b = binary.AppendVarint(b, w.floor)
	n := 0
	for _, id := range w.ids {
		if w.gens[id].frontier > w.floor {
			n++
		}
	}
	b = binary.AppendUvarint(b, uint64(n))
	prev := w.floor
	for _, id := range w.ids {
		f := w.gens[id].frontier
		if f <= w.floor {
			continue
		}
		b = model.AppendString(b, id)
		b = binary.AppendVarint(b, f-prev)
		prev = f
	}
	return b
}

// restoreMeta loads a blob written by appendMeta into w, which must be new.
// An empty blob is the state of a consumer that never committed.
func restoreMeta(b []byte, w *Windower) (through uint64, err error) {
	if len(b) == 0 {
		return 0, nil
	}
	d := model.NewDecoder(b)
	if v := d.Byte(); d.Err() == nil && v != metaVersion {
		return 0, fmt.Errorf("%w: meta version %d", model.ErrCorrupt, v)
	}
	through = d.Uvarint()
	if win := d.Uvarint(); d.Err() == nil && (win == 0 || win > math.MaxInt64) {
		return 0, fmt.Errorf("%w: meta window %d", model.ErrCorrupt, win)
	}
	floor := d.Varint()
	n := d.Uvarint()
	if d.Err() == nil && n > uint64(d.Len()) {
		return 0, fmt.Errorf("%w: meta count %d", model.ErrCorrupt, n)
	}
	if err := restoreFrontiers(d, w, floor, int(n)); err != nil {
		return 0, err
	}
	if d.Len() != 0 {
		return 0, fmt.Errorf("%w: meta: %d trailing bytes", model.ErrCorrupt, d.Len())
	}
	return through, nil
}

func restoreFrontiers(d *model.Decoder, w *Windower, floor int64, n int) error {
	if d.Err() != nil {
		return d.Err()
	}
	w.floor = max(w.floor, floor)
	prev := floor
	for range n {
		id := d.Text()
		prev += d.Varint()
		if d.Err() != nil {
			return d.Err()
		}
		if id == "" || w.gens[id] != nil {
			return fmt.Errorf("%w: meta: empty or repeated generator %q", model.ErrCorrupt, id)
		}
		w.newGen(id, max(prev, w.floor))
	}
	return nil
}
