package agent

import (
	"context"
	"log/slog"
	"time"

	"github.com/edgespool/edgespool/spool"
)

// spoolMonitor logs spool state changes once: over 80% of the byte cap (and
// back under 70%), and records being dropped by the caps.
type spoolMonitor struct {
	sp  *spool.Spool
	log *slog.Logger
}

// Run checks the spool every few seconds until ctx ends.
func (m *spoolMonitor) Run(ctx context.Context) error {
	sp, log := m.sp, m.log
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	high, dropping := false, false
	dropped := totalDropped(sp.Stats())
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		st := sp.Stats()
		high = checkFill(log, st, high)
		now := totalDropped(st)
		if d := now > dropped; d != dropping {
			dropping = d
			if d {
				log.Warn("spool dropping records to stay within its caps", "dropped_total", now, "policy", st.Policy)
			} else {
				log.Info("spool stopped dropping records", "dropped_total", now)
			}
		}
		dropped = now
	}
}

func checkFill(log *slog.Logger, st spool.Stats, high bool) bool {
	if st.CapBytes <= 0 {
		return high
	}
	fill := float64(st.LogicalBytes) / float64(st.CapBytes)
	switch {
	case !high && fill >= 0.8:
		log.Warn("spool over 80% of its byte cap", "bytes", st.LogicalBytes, "cap", st.CapBytes, "policy", st.Policy)
		return true
	case high && fill < 0.7:
		log.Info("spool back under 70% of its byte cap", "bytes", st.LogicalBytes, "cap", st.CapBytes)
		return false
	}
	return high
}

func totalDropped(st spool.Stats) uint64 {
	var total uint64
	for _, s := range st.Streams {
		total += s.Dropped
	}
	return total
}
