package agent

import (
	"log/slog"
	"runtime/debug"
	"sync"

	"github.com/edgespool/edgespool/agent/config"
)

// runtimeLimit is the Go runtime's memory limit when the agent first set
// one (GOMEMLIMIT from the environment, else none), restored when
// memory_limit goes back to 0.
var runtimeLimit = sync.OnceValue(func() int64 { return debug.SetMemoryLimit(-1) })

// applyMemoryLimit sets the runtime's soft memory limit to memory_limit,
// or back to the environment's when it is 0, logs a change, and returns
// the limit it replaced.
func applyMemoryLimit(limit config.ByteSize, log *slog.Logger) (prev int64) {
	want := runtimeLimit()
	if limit > 0 {
		want = int64(limit)
	}
	if prev = debug.SetMemoryLimit(want); prev != want {
		log.Info("go memory limit set", "memory_limit", config.ByteSize(want).String())
	}
	return prev
}
