package downsample

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent/model"
)

func TestMetaRoundTrip(t *testing.T) {
	w, _ := NewWindower(Options{Retention: time.Hour})
	now := t0.Add(2 * time.Hour)
	for i, g := range []string{"generator1", "generator2", "generator10", "g-old"} {
		w.Add(reading(g, at(time.Duration(i)*time.Hour/2), 900), uint64(i+1), now)
		w.Add(reading(g, at(time.Duration(i)*time.Hour/2+2*time.Minute), 900), uint64(i+10), now)
	}
	w.Tick(now)
	meta := appendMeta(nil, 77, w)
	w2, _ := NewWindower(Options{Retention: time.Hour})
	through, err := restoreMeta(meta, w2)
	if err != nil || through != 77 {
		t.Fatalf("restore: %d, %v", through, err)
	}
	if w2.floor != w.floor {
		t.Errorf("floor %d, want %d", w2.floor, w.floor)
	}
	for _, id := range w.ids {
		if g2 := w2.gens[id]; w.gens[id].frontier > w.floor && (g2 == nil || g2.frontier != w.gens[id].frontier) {
			t.Errorf("%s: frontier lost: %+v", id, g2)
		}
	}
	if again := appendMeta(nil, 77, w2); !bytes.Equal(again, meta) {
		t.Errorf("re-encoding differs:\n%x\n%x", again, meta)
	}
	if len(meta) > 80 {
		t.Errorf("meta is %d bytes for 4 generators", len(meta))
	}
}

func TestMetaRejectsDamage(t *testing.T) {
	w, _ := NewWindower(Options{})
	w.Add(reading("g1", at(0), 1), 1, t0)
	w.Add(reading("g1", at(time.Hour), 1), 2, t0.Add(time.Hour))
	w.Add(reading("g2", at(time.Hour), 1), 3, t0.Add(time.Hour))
	w.Add(reading("g2", at(2*time.Hour), 1), 4, t0.Add(2*time.Hour))
	good := appendMeta(nil, 4, w)
	cases := map[string][]byte{
		"version":   append([]byte{2}, good[1:]...),
		"truncated": good[:len(good)-1],
		"trailing":  append(append([]byte{}, good...), 0),
		"zero window": func() []byte {
			b := append([]byte{}, good...)
			b[2] = 0 // through=4 is one byte; window's first byte
			return b
		}(),
		"repeated generator": {1, 0, 60, 0, 2, 1, 'g', 2, 1, 'g', 2},
		"empty generator":    {1, 0, 60, 0, 1, 0, 2},
		"huge count":         append(append([]byte{}, good[:len(good)-18]...), 0xff, 0xff, 0xff, 0x7f),
	}
	for name, b := range cases {
		w2, _ := NewWindower(Options{})
		if _, err := restoreMeta(b, w2); !errors.Is(err, model.ErrCorrupt) {
			t.Errorf("%s: err = %v, want model.ErrCorrupt", name, err)
		}
	}
	w2, _ := NewWindower(Options{})
	if through, err := restoreMeta(nil, w2); err != nil || through != 0 {
		t.Errorf("empty meta: %d, %v", through, err)
	}
}

func FuzzRestoreMeta(f *testing.F) {
	w, _ := NewWindower(Options{})
	w.Add(reading("g1", at(0), 1), 1, t0)
	w.Add(reading("g1", at(time.Hour), 1), 2, t0.Add(time.Hour))
	f.Add(appendMeta(nil, 2, w))
	f.Fuzz(func(t *testing.T, b []byte) {
		w, _ := NewWindower(Options{})
		through, err := restoreMeta(b, w)
		if err != nil {
			return
		}
		w2, _ := NewWindower(Options{})
		if _, err := restoreMeta(appendMeta(nil, through, w), w2); err != nil {
			t.Fatalf("re-encoded meta rejected: %v", err)
		}
	})
}
