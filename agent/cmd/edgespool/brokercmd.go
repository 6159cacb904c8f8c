package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/edgespool/edgespool/agent/broker"
)

// stdin is where `broker passwd` reads the password (a variable for tests).
var stdin io.Reader = os.Stdin

const brokerUsage = "usage: edgespool broker passwd [-cost N] FILE USER   (password on standard input)\n"

func cmdBroker(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, brokerUsage)
		return errUsage
	}
	switch args[0] {
	case "passwd":
		return brokerPasswd(args[1:], stdout, stderr)
	case "-h", "-help", "--help":
		fmt.Fprint(stdout, brokerUsage)
		return nil
	}
	fmt.Fprintf(stderr, "edgespool broker: unknown subcommand %q (passwd)\n", args[0])
	return errUsage
}

// brokerPasswd adds a user to the embedded broker's users file, or sets
// its password: the first line of standard input, hashed with bcrypt.
func brokerPasswd(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("broker passwd", "broker passwd [-cost N] FILE USER", stderr)
	cost := fs.Int("cost", 0, "bcrypt cost (default 10; each login of a new connection pays it once)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return errUsage
	}
	file, user := fs.Arg(0), fs.Arg(1)
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read password: %w", err)
	}
	password := strings.TrimRight(line, "\r\n")
	if password == "" {
		return errors.New("empty password on standard input")
	}
	if err := broker.SetUser(file, user, password, *cost); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "user %s set in %s\n", user, file)
	return nil
}
