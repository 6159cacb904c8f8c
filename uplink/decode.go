package uplink

import (
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/edgespool/edgespool/agent/model"
)

// item is a decoded message: the reading, plus window, alarm and region
// when it came from the downsampled stream (down is true).
type item struct {
	model.Point
	down bool
}

// decode decodes m's payload by its stream: model.StreamDownsampled
// holds Points, every other stream Readings. A payload that cannot be
// decoded or sent as it is (corrupt, NaN coordinates, an id that is not
// UTF-8) is a ClassPermanent error: no retry will ever make it acceptable.
func decode(m Message) (item, error) {
	var it item
	var err error
	if m.Stream == model.StreamDownsampled {
		it.Point, err = model.DecodePoint(m.Value)
		it.down = true
	} else {
		it.Reading, err = model.DecodeReading(m.Value)
	}
	if err != nil {
		return it, Permanent(fmt.Errorf("decode %s seq %d: %w", m.Stream, m.Seq, err))
	}
	if err := validate(it); err != nil {
		return it, Permanent(fmt.Errorf("%s seq %d: %w", m.Stream, m.Seq, err))
	}
	return it, nil
}

func validate(it item) error {
	r := it.Reading
	switch {
	case !utf8.ValidString(r.GeneratorID):
		return fmt.Errorf("generator id %q is not UTF-8", r.GeneratorID)
	case !finite(r.Lat) || !finite(r.Lon):
		return fmt.Errorf("generator %s: coordinates %v,%v not finite", r.GeneratorID, r.Lat, r.Lon)
	case it.down && (!utf8.ValidString(it.Alarm) || !utf8.ValidString(it.Region)):
		return fmt.Errorf("generator %s: alarm or region is not UTF-8", r.GeneratorID)
	}
	return nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
