package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/edgespool/edgespool/sim/fleet"
)

type runFlags struct {
	broker, clientID, user, password string
	generators, first, conns, window int
	rate                             float64
	count                            uint64
	duration, statsEvery, drain      time.Duration
	seed                             uint64
	bare, qos0                       bool
	summary, log, level              string
}

func (f *runFlags) register(fs interface {
	StringVar(*string, string, string, string)
	IntVar(*int, string, int, string)
	Float64Var(*float64, string, float64, string)
	Uint64Var(*uint64, string, uint64, string)
	DurationVar(*time.Duration, string, time.Duration, string)
	BoolVar(*bool, string, bool, string)
}) {
	fs.StringVar(&f.broker, "broker", "tcp://127.0.0.1:1883", "MQTT broker URL (tcp://, ssl://)")
	fs.StringVar(&f.clientID, "client-id", fmt.Sprintf("edgespool-sim-%d", os.Getpid()), "MQTT client id prefix (a connection number is appended)")
	fs.StringVar(&f.user, "username", "", "MQTT username")
	fs.StringVar(&f.password, "password", os.Getenv("EDGESPOOL_SIM_MQTT_PASSWORD"), "MQTT password (default $EDGESPOOL_SIM_MQTT_PASSWORD)")
	fs.IntVar(&f.generators, "generators", 10, "number of generators")
	fs.IntVar(&f.first, "first", 1, "index of the first generator (to split a fleet over several simulators)")
	fs.IntVar(&f.conns, "conns", 0, "MQTT connections (0: one per generator, like real devices)")
	fs.IntVar(&f.window, "window", fleet.DefaultWindow, "unacknowledged QoS 1 messages per connection (max 65535)")
	fs.Float64Var(&f.rate, "rate", 1, "readings per second per generator (e.g. 0.1 or 1000)")
	fs.Uint64Var(&f.count, "count", 0, "readings per generator, then stop (0: no limit)")
	fs.DurationVar(&f.duration, "duration", 0, "stop after this long (0: no limit)")
	fs.DurationVar(&f.statsEvery, "stats", 5*time.Second, "print counters this often (0: never)")
	fs.DurationVar(&f.drain, "drain-timeout", 30*time.Second, "at the end, wait this long for outstanding acknowledgements")
	fs.Uint64Var(&f.seed, "seed", 1, "model seed: same seed, same places and readings")
	fs.BoolVar(&f.bare, "bare", false, "send the bare reference payload (no time, no seq)")
	fs.BoolVar(&f.qos0, "qos0", false, "publish at QoS 0 like the reference simulator (not recommended)")
	fs.StringVar(&f.summary, "summary", "", "write the per-generator summary (expected set for verify) to this file")
	fs.StringVar(&f.log, "log", "", "write every published reading (CSV) to this file, for verify -log")
	fs.StringVar(&f.level, "log-level", "info", "log level: debug, info, warn, error")
}

func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f runFlags
	fs := newFlags("run", "run [flags]", stderr)
	f.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if f.generators < 1 || f.rate <= 0 || f.window < 1 {
		return fmt.Errorf("%w: -generators, -rate and -window must be positive", errUsage)
	}
	log, err := newLogger(stderr, f.level)
	if err != nil {
		return err
	}
	pubs, err := dialPublishers(ctx, f, log)
	if err != nil {
		return err
	}
	res, err := simulate(ctx, f, pubs, stdout)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "done: %d published, %d acknowledged, %d republished, %d ticks skipped (publisher lagging)\n",
		res.stats.Published, res.stats.Acked, res.republished, res.stats.Skipped)
	return res.closeErr
}
