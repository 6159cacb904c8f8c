package fault

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/edgespool/edgespool/agent/clock"
)

// Schedule is a flapping pattern: Cycles times, the link is down for Down
// then up for Up. Cycles 0 means until the context ends.
type Schedule struct {
	Down, Up time.Duration
	Cycles   int
}

// Flap runs the schedule on link and always leaves the link restored. It
// returns the number of completed cycles; the end of ctx is not an error.
// The waits run on clk (nil: the real clock).
func Flap(ctx context.Context, link Link, s Schedule, clk clock.Clock, log *slog.Logger) (int, error) {
	if s.Down <= 0 || s.Up < 0 {
		return 0, fmt.Errorf("flap: down must be > 0 and up >= 0, got %v/%v", s.Down, s.Up)
	}
	if log == nil {
		log = slog.Default()
	}
	defer link.Restore()
	n := 0
	for s.Cycles == 0 || n < s.Cycles {
		if err := link.Cut(); err != nil {
			return n, err
		}
		if clock.Sleep(ctx, clk, s.Down) != nil {
			return n, nil
		}
		if err := link.Restore(); err != nil {
			return n, err
		}
		n++
		log.Info("flap cycle done", "cycle", n, "down", s.Down, "up", s.Up)
		if clock.Sleep(ctx, clk, s.Up) != nil {
			return n, nil
		}
	}
	return n, nil
}
