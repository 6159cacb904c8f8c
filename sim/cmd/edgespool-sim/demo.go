package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/edgespool/edgespool/sim/demo"
)

// errDemoFailed makes demo exit 1 after its verdict.
var errDemoFailed = fmt.Errorf("demo failed: the verifier found loss, disorder or wrong data")

func demoCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o demo.Options
	var level string
	fs := newFlags("demo", "demo [flags]", stderr)
	fs.IntVar(&o.Generators, "generators", 5, "number of generators")
	fs.Float64Var(&o.Rate, "rate", 20, "readings per second per generator")
	fs.DurationVar(&o.Duration, "duration", 25*time.Second, "how long the generators publish")
	fs.DurationVar(&o.CutAt, "cut-at", 8*time.Second, "when the uplink is cut")
	fs.DurationVar(&o.CutFor, "cut-for", 10*time.Second, "how long the uplink stays cut")
	fs.DurationVar(&o.Window, "window", 10*time.Second, "downsample window (production default: 1m)")
	fs.DurationVar(&o.DrainTimeout, "drain-timeout", 90*time.Second, "how long to wait for the backlog to drain")
	fs.DurationVar(&o.Every, "every", time.Second, "status line interval")
	fs.Uint64Var(&o.Seed, "seed", 1, "model seed")
	fs.StringVar(&o.Influxd, "influxd", "", "influxd binary (default: $EDGESPOOL_TOOLS/bin, /opt/edgespool-tools/bin, PATH)")
	fs.BoolVar(&o.NoInflux, "no-influx", false, "run without InfluxDB even when influxd is available")
	brokerMode := fs.String("broker-mode", "external", "external: the agent subscribes to the demo's broker; embedded: the generators publish to the agent's own broker")
	fs.StringVar(&o.Dir, "dir", "", "keep the spool, published log and influxd data here (default: a temporary directory, removed)")
	fs.StringVar(&level, "log-level", "error", "component log level on stderr: debug, info, warn, error")
	if err := parse(fs, args); err != nil {
		return err
	}
	if o.Generators < 1 || o.Rate <= 0 || o.Duration <= 0 {
		return fmt.Errorf("%w: -generators, -rate and -duration must be positive", errUsage)
	}
	switch *brokerMode {
	case "external":
	case "embedded":
		o.Embedded = true
	default:
		return fmt.Errorf("%w: -broker-mode must be external or embedded, got %q", errUsage, *brokerMode)
	}
	log, err := newLogger(stderr, level)
	if err != nil {
		return err
	}
	o.Out, o.Logger = stdout, log
	res, err := demo.Run(ctx, o, startAgent)
	if err != nil {
		return err
	}
	if !res.OK() {
		return errDemoFailed
	}
	return nil
}
