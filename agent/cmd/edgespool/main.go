// Command edgespool is the edge agent: it spools MQTT readings durably,
// downsamples them, and forwards them to Kafka and InfluxDB.
//
//	edgespool run -config FILE          run the daemon
//	edgespool check-config -config FILE validate a configuration file
//	edgespool version                   print version, commit, platform
//	edgespool status [-addr HOST:PORT]  show a running agent's state
//	edgespool spool stat|dump|compact|repair|remove-cursor -spool FILE
//	edgespool broker passwd FILE USER   add a user of the embedded broker
//
// Exit codes: 0 success, 1 failure, 2 usage error.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

const usage = `usage: edgespool <command> [flags]

commands:
  run -config FILE            run the agent
  check-config -config FILE   validate a configuration file
  version                     print version, commit and platform
  status [-addr HOST:PORT]    show a running agent's state
  spool stat|dump|compact|repair|remove-cursor -spool FILE
                              inspect or compact a spool file (agent stopped)
  broker passwd FILE USER     add or update a user of the embedded broker
                              (password read from standard input)

Run "edgespool <command> -h" for a command's flags.
`

// errUsage marks a usage error (exit code 2); the message was printed.
var errUsage = errors.New("usage")

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmds := map[string]func([]string, io.Writer, io.Writer) error{
		"run": cmdRun, "check-config": cmdCheckConfig, "version": cmdVersion,
		"status": cmdStatus, "spool": cmdSpool, "broker": cmdBroker,
	}
	cmd, ok := cmds[args[0]]
	switch {
	case args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help":
		fmt.Fprint(stdout, usage)
		return 0
	case !ok:
		fmt.Fprintf(stderr, "edgespool: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	err := cmd(args[1:], stdout, stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	fmt.Fprintf(stderr, "edgespool %s: %v\n", args[0], err)
	return 1
}

// newFlags returns a flag set that reports errors instead of exiting.
func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: edgespool %s\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args, mapping a bad flag or stray argument to errUsage.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	return nil
}
