// Package logtest is a slog handler for tests: it keeps every record for
// assertions and fails the test when one record carries the same key twice
// (an attribute repeated along a With chain, or one named like a built-in
// key: time, level, msg, source). Keys inside groups are compared with
// their group path ("g.key").
package logtest

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Record is one logged record with its attributes flattened: the keys of
// the With chain and of the record, group paths joined with ".".
type Record struct {
	Level   slog.Level
	Message string
	Attrs   map[string]slog.Value
}

// Handler records every record (all levels) and reports duplicate keys to
// the test when it ends. Safe for concurrent use.
type Handler struct {
	rec    *recorder
	prefix string      // open groups, "a.b."
	attrs  []slog.Attr // resolved With attributes, keys flattened
}

type recorder struct {
	mu         sync.Mutex
	records    []Record
	duplicates []string
}

// builtin are the keys the standard handlers write for every record.
var builtin = []string{slog.TimeKey, slog.LevelKey, slog.MessageKey, slog.SourceKey}

// New returns a Handler that fails t, when it ends, if a record had a key
// twice.
func New(t testing.TB) *Handler {
	h := newHandler()
	t.Cleanup(func() {
		for _, d := range h.Duplicates() {
			t.Errorf("log record with a duplicate key: %s", d)
		}
	})
	return h
}

func newHandler() *Handler { return &Handler{rec: &recorder{}} }

// Logger is slog.New(New(t)) with the handler, for assertions.
func Logger(t testing.TB) (*slog.Logger, *Handler) {
	h := New(t)
	return slog.New(h), h
}

// Enabled accepts every level.
func (h *Handler) Enabled(context.Context, slog.Level) bool { return true }

// Handle records r and notes a duplicate key.
func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	attrs := slices.Clone(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		attrs = flatten(attrs, h.prefix, a)
		return true
	})
	rec := Record{Level: r.Level, Message: r.Message, Attrs: make(map[string]slog.Value, len(attrs))}
	var dups []string
	for _, a := range attrs {
		if _, seen := rec.Attrs[a.Key]; seen || slices.Contains(builtin, a.Key) {
			dups = append(dups, a.Key+" in "+describe(r.Message, attrs))
		}
		rec.Attrs[a.Key] = a.Value
	}
	h.rec.mu.Lock()
	defer h.rec.mu.Unlock()
	h.rec.records = append(h.rec.records, rec)
	h.rec.duplicates = append(h.rec.duplicates, dups...)
	return nil
}

// WithAttrs adds attributes under the open groups.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = slices.Clone(h.attrs)
	for _, a := range as {
		c.attrs = flatten(c.attrs, h.prefix, a)
	}
	return &c
}

// WithGroup opens a group.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.prefix = h.prefix + name + "."
	return &c
}

// flatten appends a (resolved) to out with prefix, expanding groups.
func flatten(out []slog.Attr, prefix string, a slog.Attr) []slog.Attr {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return out
	}
	if a.Value.Kind() != slog.KindGroup {
		return append(out, slog.Attr{Key: prefix + a.Key, Value: a.Value})
	}
	if a.Key != "" {
		prefix += a.Key + "."
	}
	for _, g := range a.Value.Group() {
		out = flatten(out, prefix, g)
	}
	return out
}

func describe(msg string, attrs []slog.Attr) string {
	var b strings.Builder
	b.WriteString(msg)
	for _, a := range attrs {
		b.WriteString(" " + a.String())
	}
	return "\"" + b.String() + "\""
}

// Records returns what was logged so far.
func (h *Handler) Records() []Record {
	h.rec.mu.Lock()
	defer h.rec.mu.Unlock()
	return slices.Clone(h.rec.records)
}

// Find returns the records with message msg.
func (h *Handler) Find(msg string) []Record {
	var out []Record
	for _, r := range h.Records() {
		if r.Message == msg {
			out = append(out, r)
		}
	}
	return out
}

// Duplicates describes the records that had a key twice.
func (h *Handler) Duplicates() []string {
	h.rec.mu.Lock()
	defer h.rec.mu.Unlock()
	return slices.Clone(h.rec.duplicates)
}
