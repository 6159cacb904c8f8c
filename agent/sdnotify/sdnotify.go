// Package sdnotify tells systemd about the daemon's state over the
// NOTIFY_SOCKET datagram socket (sd_notify(3)): READY=1 once it takes data,
// RELOADING=1 and READY=1 around a configuration reload, STOPPING=1 at
// shutdown, and WATCHDOG=1 while it is healthy. Outside systemd (no
// NOTIFY_SOCKET) every call does nothing.
package sdnotify

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// States sent by the agent.
const (
	Ready     = "READY=1"
	Stopping  = "STOPPING=1"
	Watchdog  = "WATCHDOG=1"
	reloading = "RELOADING=1"
)

// Notifier sends state strings to the service manager.
type Notifier struct {
	addr     *net.UnixAddr // nil: not under systemd
	watchdog time.Duration
}

// FromEnv returns the notifier of this process: the socket of
// NOTIFY_SOCKET, and the watchdog period of WATCHDOG_USEC when
// WATCHDOG_PID is unset or this process.
func FromEnv() *Notifier {
	n := &Notifier{}
	if path := os.Getenv("NOTIFY_SOCKET"); path != "" {
		if path[0] == '@' { // abstract namespace
			path = "\x00" + path[1:]
		}
		n.addr = &net.UnixAddr{Name: path, Net: "unixgram"}
	}
	usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	pid := os.Getenv("WATCHDOG_PID")
	if err == nil && usec > 0 && (pid == "" || pid == strconv.Itoa(os.Getpid())) {
		n.watchdog = time.Duration(usec) * time.Microsecond
	}
	return n
}

// Enabled reports whether a service manager listens.
func (n *Notifier) Enabled() bool { return n.addr != nil }

// WatchdogInterval is the watchdog timeout systemd expects WATCHDOG=1
// within, 0 when the watchdog is off.
func (n *Notifier) WatchdogInterval() time.Duration {
	if n.addr == nil {
		return 0
	}
	return n.watchdog
}

// Notify sends state (lines of KEY=VALUE); nil when not under systemd.
func (n *Notifier) Notify(state string) error {
	if n.addr == nil {
		return nil
	}
	conn, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}

// Reloading is RELOADING=1 with the CLOCK_MONOTONIC time systemd wants
// with it; READY=1 ends the reload.
func Reloading() string {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return reloading
	}
	usec := ts.Nano() / 1e3
	return strings.Join([]string{reloading, "MONOTONIC_USEC=" + strconv.FormatInt(usec, 10)}, "\n")
}

// Status is a STATUS= line shown by systemctl status.
func Status(s string) string { return "STATUS=" + strings.ReplaceAll(s, "\n", " ") }
