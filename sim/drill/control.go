package drill

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrNotConfigured is returned when the drill file gives no way to do
// what a fault needs (no kill command nor pid file, no fill command...).
var ErrNotConfigured = errors.New("not configured")

// Control kills, stops and starts a process: the agent or the broker.
type Control interface {
	Kill(ctx context.Context) error  // SIGKILL or equivalent
	Stop(ctx context.Context) error  // clean stop
	Start(ctx context.Context) error // returns once started (not necessarily ready)
}

// Funcs is a Control made of functions, for programs that run the agent
// or the broker themselves. A nil function is ErrNotConfigured.
type Funcs struct {
	KillFunc, StopFunc, StartFunc func(ctx context.Context) error
}

func call(f func(context.Context) error, ctx context.Context, what string) error {
	if f == nil {
		return fmt.Errorf("%s: %w", what, ErrNotConfigured)
	}
	return f(ctx)
}

// Kill calls KillFunc.
func (f Funcs) Kill(ctx context.Context) error { return call(f.KillFunc, ctx, "kill") }

// Stop calls StopFunc.
func (f Funcs) Stop(ctx context.Context) error { return call(f.StopFunc, ctx, "stop") }

// Start calls StartFunc.
func (f Funcs) Start(ctx context.Context) error { return call(f.StartFunc, ctx, "start") }

// commandTimeout bounds one control command.
const commandTimeout = 2 * time.Minute

// Commands controls a process through the commands of a drill file (run
// with sh -c, output appended to Log) or, without kill or stop commands,
// by signalling the process whose id is in PIDFile.
type Commands struct {
	Name string // "agent" or "broker", for messages
	P    Process
	Log  *os.File // command output; nil: discarded
}

// Kill runs the kill command, or sends SIGKILL to the pid file's process.
func (c Commands) Kill(ctx context.Context) error {
	if c.P.Kill != "" {
		return c.run(ctx, "kill", c.P.Kill)
	}
	return c.signal(syscall.SIGKILL, 10*time.Second)
}

// Stop runs the stop command, or sends SIGTERM to the pid file's process
// and SIGKILL if it has not exited after a minute.
func (c Commands) Stop(ctx context.Context) error {
	if c.P.Stop != "" {
		return c.run(ctx, "stop", c.P.Stop)
	}
	if err := c.signal(syscall.SIGTERM, time.Minute); !errors.Is(err, errStillRunning) {
		return err
	}
	return c.signal(syscall.SIGKILL, 10*time.Second)
}

// Start runs the start command.
func (c Commands) Start(ctx context.Context) error {
	if c.P.Start == "" {
		return fmt.Errorf("%s start: %w (give site.%s.start)", c.Name, ErrNotConfigured, c.Name)
	}
	return c.run(ctx, "start", c.P.Start)
}

func (c Commands) run(ctx context.Context, what, command string) error {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", command)
	// A file, not a pipe: a start command may leave a daemon holding it.
	cmd.Stdout, cmd.Stderr = c.Log, c.Log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %q: %w", c.Name, what, command, err)
	}
	return nil
}

var errStillRunning = errors.New("still running")

// signal sends sig to the pid file's process and waits up to wait for it
// to exit.
func (c Commands) signal(sig syscall.Signal, wait time.Duration) error {
	if c.P.PIDFile == "" {
		return fmt.Errorf("%s %v: %w (give site.%s.kill/stop or pid_file)", c.Name, sig, ErrNotConfigured, c.Name)
	}
	pid, err := readPID(c.P.PIDFile)
	if err != nil {
		return fmt.Errorf("%s: %w", c.Name, err)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return nil // already gone
		}
		return fmt.Errorf("%s: signal %d: %w", c.Name, pid, err)
	}
	deadline := time.Now().Add(wait)
	for alive(pid) {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s pid %d after %v: %w", c.Name, pid, sig, errStillRunning)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

func readPID(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return 0, fmt.Errorf("pid file %s: no process id in %q", path, bytes.TrimSpace(b))
	}
	return pid, nil
}

// alive reports whether pid runs and is not a zombie.
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true // no /proc: trust kill(0)
	}
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}
