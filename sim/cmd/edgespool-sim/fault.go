package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/edgespool/edgespool/sim/fault"
)

const faultUsage = `usage: edgespool-sim fault <action> [-api HOST:PORT] [flags]

Drives a Toxiproxy server (toxiproxy-server, default API 127.0.0.1:8474).
Point the agent's kafka.brokers or influxdb.url at a proxy's listen address;
for Kafka, the brokers must also advertise that address (advertised.listeners).

actions:
  create    -name N -listen ADDR -upstream ADDR   make (or replace) a proxy
  list                                            show proxies, state and toxics
  cut       -name N                               close connections, refuse new ones
  restore   -name N                               let connections through again
  latency   -name N -latency D [-jitter D]        add latency in both directions
  bandwidth -name N -kbps K                       cap the rate in both directions (KB/s)
  clear     -name N                               remove toxics and restore
  delete    -name N                               remove the proxy
  flap      -name N -down D -up D [-cycles N]     cut/restore on a schedule (0 cycles: until Ctrl-C)
`

type faultFlags struct {
	api, name, listen, upstream string
	latency, jitter, down, up   time.Duration
	kbps                        int64
	cycles                      int
}

func faultCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "help" {
		fmt.Fprint(stdout, faultUsage)
		if len(args) == 0 {
			return fmt.Errorf("%w: no action", errUsage)
		}
		return nil
	}
	action := args[0]
	var f faultFlags
	fs := flag.NewFlagSet("edgespool-sim fault "+action, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, faultUsage); fs.PrintDefaults() }
	fs.StringVar(&f.api, "api", envOr("TOXIPROXY_URL", fault.DefaultAPI), "Toxiproxy API address (default $TOXIPROXY_URL or 127.0.0.1:8474)")
	fs.StringVar(&f.name, "name", "", "proxy name, e.g. kafka or influxdb")
	fs.StringVar(&f.listen, "listen", "", "create: address the proxy listens on, e.g. 127.0.0.1:19092")
	fs.StringVar(&f.upstream, "upstream", "", "create: the real server, e.g. kafka.example.com:9092")
	fs.DurationVar(&f.latency, "latency", 500*time.Millisecond, "latency: added delay")
	fs.DurationVar(&f.jitter, "jitter", 0, "latency: random extra delay up to this")
	fs.Int64Var(&f.kbps, "kbps", 64, "bandwidth: KB/s")
	fs.DurationVar(&f.down, "down", 10*time.Second, "flap: time cut")
	fs.DurationVar(&f.up, "up", 20*time.Second, "flap: time up")
	fs.IntVar(&f.cycles, "cycles", 3, "flap: number of cycles (0: until interrupted)")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	log, _ := newLogger(stderr, "info")
	c := fault.New(f.api, fault.Options{Logger: log})
	return runFault(ctx, c, action, f, stdout, log)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func runFault(ctx context.Context, c *fault.Client, action string, f faultFlags, stdout io.Writer, log *slog.Logger) error {
	if action != "list" && f.name == "" {
		return fmt.Errorf("%w: %s needs -name", errUsage, action)
	}
	switch action {
	case "create":
		if f.listen == "" || f.upstream == "" {
			return fmt.Errorf("%w: create needs -listen and -upstream", errUsage)
		}
		p, err := c.Create(f.name, f.listen, f.upstream)
		if err == nil {
			fmt.Fprintln(stdout, p)
		}
		return err
	case "list":
		return listProxies(c, stdout)
	case "cut":
		return c.Cut(f.name)
	case "restore":
		return c.Restore(f.name)
	case "latency":
		return c.Latency(f.name, f.latency, f.jitter)
	case "bandwidth":
		return c.Bandwidth(f.name, f.kbps)
	case "clear":
		return c.Clear(f.name)
	case "delete":
		return c.Delete(f.name)
	case "flap":
		n, err := fault.Flap(ctx, c.Link(f.name), fault.Schedule{Down: f.down, Up: f.up, Cycles: f.cycles}, nil, log)
		fmt.Fprintf(stdout, "%d flap cycles done; link restored\n", n)
		return err
	}
	return fmt.Errorf("%w: unknown fault action %q", errUsage, action)
}

func listProxies(c *fault.Client, stdout io.Writer) error {
	ps, err := c.List()
	if err != nil {
		return err
	}
	for _, p := range ps {
		fmt.Fprintln(stdout, p)
	}
	if len(ps) == 0 {
		fmt.Fprintln(stdout, "no proxies")
	}
	return nil
}
