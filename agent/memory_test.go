package agent

import (
	"log/slog"
	"runtime/debug"
	"testing"
)

// TestApplyMemoryLimit: memory_limit sets the runtime's soft limit; 0
// puts back the limit the process started with.
func TestApplyMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	log := slog.New(slog.DiscardHandler)
	if prev := applyMemoryLimit(96<<20, log); prev != before {
		t.Fatalf("replaced limit %d, want %d", prev, before)
	}
	if got := debug.SetMemoryLimit(-1); got != 96<<20 {
		t.Fatalf("limit %d after memory_limit 96MiB", got)
	}
	if prev := applyMemoryLimit(0, log); prev != 96<<20 {
		t.Fatalf("replaced limit %d, want 96MiB", prev)
	}
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Fatalf("limit %d after memory_limit 0, want the starting %d", got, before)
	}
}
