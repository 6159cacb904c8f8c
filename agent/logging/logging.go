// Package logging sets up the daemon's slog logger: text or JSON, a level
// that can change at run time, and an output file that can be reopened
// (SIGHUP after logrotate moved it).
//
// Every record has each key once. The handler is built once; Reload
// changes the level variable and the file under it, never wraps the
// handler again. An attribute named like a built-in key (time, level, msg,
// source) outside any group is written as "attr.<key>", so that a JSON
// record never holds "level" twice.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
)

// Logger owns the handler's output and level.
type Logger struct {
	*slog.Logger
	level *slog.LevelVar
	out   *reopener
}

// New returns a logger writing to file (stderr when empty) in format "text"
// or "json" at level ("debug", "info", "warn", "error").
func New(format, level, file string) (*Logger, error) {
	lv := new(slog.LevelVar)
	if err := SetLevel(lv, level); err != nil {
		return nil, err
	}
	out := &reopener{path: file}
	if err := out.reopen(); err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler = slog.NewTextHandler(out, opts)
	if format == "json" {
		h = slog.NewJSONHandler(out, opts)
	}
	return &Logger{Logger: slog.New(builtinGuard{h: h}), level: lv, out: out}, nil
}

// SetLevel parses level into lv.
func SetLevel(lv *slog.LevelVar, level string) error {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		return fmt.Errorf("log level %q: %w", level, err)
	}
	lv.Set(l)
	return nil
}

// Reload applies a new level and reopens the output file, then logs that
// it did (attribute log_level).
func (l *Logger) Reload(level string) error {
	if err := SetLevel(l.level, level); err != nil {
		return err
	}
	if err := l.out.reopen(); err != nil {
		return err
	}
	l.Info("log file reopened and log level applied", "log_level", l.level.Level().String())
	return nil
}

// Reopen reopens the output file (after logrotate moved it) and keeps
// the level.
func (l *Logger) Reopen() error { return l.out.reopen() }

// Close closes the output file, if any.
func (l *Logger) Close() error { return l.out.close() }

// reopener is an io.Writer over a file that can be reopened.
type reopener struct {
	mu   sync.Mutex
	path string
	f    *os.File
	w    io.Writer
}

func (r *reopener) reopen() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.path == "" {
		r.w = os.Stderr
		return nil
	}
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("open log file: %w", err)
	}
	if r.f != nil {
		r.f.Close()
	}
	r.f, r.w = f, f
	return nil
}

func (r *reopener) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.w.Write(p)
}

func (r *reopener) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f, r.w = nil, os.Stderr
	return err
}
