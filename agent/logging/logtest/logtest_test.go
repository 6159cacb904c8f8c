package logtest

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestDuplicateKeysAreFound(t *testing.T) {
	for _, tc := range []struct {
		name string
		log  func(*slog.Logger)
		dup  string
	}{
		{"with chain", func(l *slog.Logger) { l.With("sink", "influx").Info("m", "sink", "influx") }, "sink"},
		{"two withs", func(l *slog.Logger) { l.With("a", 1).With("a", 2).Info("m") }, "a"},
		{"builtin", func(l *slog.Logger) { l.Info("m", "level", "debug") }, "level"},
		{"group", func(l *slog.Logger) { l.WithGroup("g").With("k", 1).Info("m", slog.Group("", "k", 2)) }, "g.k"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHandler()
			tc.log(slog.New(h))
			d := h.Duplicates()
			if len(d) != 1 || !strings.HasPrefix(d[0], tc.dup+" in ") {
				t.Fatalf("duplicates %q, want one of %q", d, tc.dup)
			}
		})
	}
}

func TestDistinctKeysPassAndAreRecorded(t *testing.T) {
	h := newHandler()
	l := slog.New(h).With("component", "mqtt")
	l.WithGroup("g").Warn("m", "k", 1)
	l.Error("n", "k", 2, "err", errors.New("boom"))
	if d := h.Duplicates(); len(d) != 0 {
		t.Fatalf("duplicates %q", d)
	}
	r := h.Find("n")
	if len(r) != 1 || r[0].Level != slog.LevelError || r[0].Attrs["err"].String() != "boom" ||
		r[0].Attrs["component"].String() != "mqtt" {
		t.Fatalf("records %+v", h.Records())
	}
	if w := h.Find("m"); len(w) != 1 || w[0].Attrs["g.k"].Int64() != 1 {
		t.Fatalf("grouped record %+v", w)
	}
}
