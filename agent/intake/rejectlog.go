package intake

import (
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"
)

// rejectSummaryEvery is how often at most the intake warns about rejected
// payloads; each rejection is also logged at debug level.
const rejectSummaryEvery = 30 * time.Second

// rejectLog sums rejected payloads by reason and logs one warning, the
// first rejection at once and then at most every `every`, with the counts
// since the previous warning. Close logs what is left.
type rejectLog struct {
	mu     sync.Mutex
	every  time.Duration
	last   time.Time
	counts map[string]int
}

// note counts one rejection at now and warns when the interval is over.
func (r *rejectLog) note(reason string, now time.Time, log *slog.Logger) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.counts == nil {
		r.counts = map[string]int{}
	}
	r.counts[reason]++
	if !r.last.IsZero() && now.Sub(r.last) < r.every {
		return
	}
	r.flushLocked(log)
	r.last = now
}

// flush logs the counts since the last warning, if any.
func (r *rejectLog) flush(log *slog.Logger) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.flushLocked(log)
}

func (r *rejectLog) flushLocked(log *slog.Logger) {
	if len(r.counts) == 0 {
		return
	}
	total := 0
	by := make([]any, 0, 2*len(r.counts))
	for _, reason := range slices.Sorted(maps.Keys(r.counts)) {
		total += r.counts[reason]
		by = append(by, reason, r.counts[reason])
	}
	log.Warn("payloads rejected", "count", total, slog.Group("by_reason", by...),
		"interval", r.every.String())
	clear(r.counts)
}
