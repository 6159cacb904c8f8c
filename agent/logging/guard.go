package logging

import (
	"context"
	"log/slog"
	"slices"
)

// builtinGuard renames attributes that would repeat a key the handler
// writes for every record (see the package doc).
type builtinGuard struct {
	h       slog.Handler
	grouped bool // a group is open: keys cannot collide with the built-ins
}

var builtinKeys = []string{slog.TimeKey, slog.LevelKey, slog.MessageKey, slog.SourceKey}

func (g builtinGuard) Enabled(ctx context.Context, l slog.Level) bool { return g.h.Enabled(ctx, l) }

func (g builtinGuard) Handle(ctx context.Context, r slog.Record) error {
	if g.grouped || !hasBuiltin(r) {
		return g.h.Handle(ctx, r)
	}
	c := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		c.AddAttrs(rename(a))
		return true
	})
	return g.h.Handle(ctx, c)
}

func (g builtinGuard) WithAttrs(as []slog.Attr) slog.Handler {
	if !g.grouped {
		as = slices.Clone(as)
		for i := range as {
			as[i] = rename(as[i])
		}
	}
	return builtinGuard{h: g.h.WithAttrs(as), grouped: g.grouped}
}

func (g builtinGuard) WithGroup(name string) slog.Handler {
	if name == "" {
		return g
	}
	return builtinGuard{h: g.h.WithGroup(name), grouped: true}
}

func hasBuiltin(r slog.Record) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = slices.Contains(builtinKeys, a.Key)
		return !found
	})
	return found
}

func rename(a slog.Attr) slog.Attr {
	if slices.Contains(builtinKeys, a.Key) {
		a.Key = "attr." + a.Key
	}
	return a
}
