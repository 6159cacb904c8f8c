// Command edgespool-sim proves offline resilience on a site: it simulates a
// fleet of emergency generators publishing over MQTT (run), cuts and
// degrades the uplink through Toxiproxy (fault), reads the sinks back and
// reports loss, duplicates and order (verify), runs the whole story
// self-contained, in one process, with no outside service (demo), and
// runs a drill file against a real site: faults on the uplinks, the agent
// and the broker, and a verdict with a report (drill).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage: edgespool-sim <command> [flags]

commands:
  run      simulate generators publishing readings over MQTT (QoS 1)
  verify   read Kafka and/or InfluxDB back and check loss, duplicates, order, downsampling
  fault    cut, restore, slow down or flap an uplink through a Toxiproxy server
  demo     self-contained demo: broker, Kafka, agent and a 10 s uplink cut, in one process
  drill    run a drill file (or quick, soak) against a site: faults, live status, verdict and report

Run "edgespool-sim <command> -h" for the flags of a command.
`

// Exit codes.
const (
	exitOK     = 0
	exitFail   = 1 // verification failed, or a runtime error
	exitUsage  = 2
	exitSignal = 130
)

// errUsage marks a command-line error (exit code 2).
var errUsage = errors.New("usage")

type command func(ctx context.Context, args []string, stdout, stderr io.Writer) error

var commands = map[string]command{
	"run":    runCmd,
	"verify": verifyCmd,
	"fault":  faultCmd,
	"demo":   demoCmd,
	"drill":  drillCmd,
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(realMain(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func realMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "edgespool-sim: unknown command %q\n%s", args[0], usage)
		return exitUsage
	}
	err := cmd(ctx, args[1:], stdout, stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "edgespool-sim %s: %v\n", args[0], err)
		return exitUsage
	case ctx.Err() != nil:
		return exitSignal
	default:
		fmt.Fprintf(stderr, "edgespool-sim %s: %v\n", args[0], err)
		return exitFail
	}
}

// newFlags returns a flag set that reports errors instead of exiting.
func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("edgespool-sim "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: edgespool-sim %s\n\nflags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args, turning flag errors into errUsage.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return nil
}

// newLogger logs text to w at the given level ("debug", "info", "warn", "error").
func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("%w: log level %q", errUsage, level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}
