package drill

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A process started by a start command is killed through its pid file.
func TestCommandsPIDFile(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "sleep.pid")
	c := Commands{Name: "agent", P: Process{Start: "sleep 60 & echo $! >" + pidFile, PIDFile: pidFile}}
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	pid, err := readPID(pidFile)
	if err != nil || !alive(pid) {
		t.Fatalf("pid %d alive %v: %v", pid, alive(pid), err)
	}
	if err := c.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	if alive(pid) {
		t.Fatal("still alive after Kill")
	}
	if err := c.Stop(ctx); err != nil { // already gone: nothing to do
		t.Fatalf("stop of a dead process: %v", err)
	}
}

func TestCommandsErrors(t *testing.T) {
	ctx := context.Background()
	if err := (Commands{Name: "broker"}).Kill(ctx); !errors.Is(err, ErrNotConfigured) {
		t.Errorf("kill without command nor pid file: %v", err)
	}
	if err := (Commands{Name: "broker"}).Start(ctx); !errors.Is(err, ErrNotConfigured) {
		t.Errorf("start without command: %v", err)
	}
	if err := (Commands{Name: "agent", P: Process{Stop: "exit 3"}}).Stop(ctx); err == nil || !strings.Contains(err.Error(), "exit 3") {
		t.Errorf("failing stop command: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "pid")
	os.WriteFile(bad, []byte("nope\n"), 0o644)
	if err := (Commands{Name: "agent", P: Process{PIDFile: bad}}).Kill(ctx); err == nil {
		t.Error("kill with a garbage pid file succeeded")
	}
	if err := (Funcs{}).Stop(ctx); !errors.Is(err, ErrNotConfigured) {
		t.Errorf("Funcs without StopFunc: %v", err)
	}
}

func TestCommandVersion(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := commandVersion(ctx, "echo 'Usage: x'; echo 'mosquitto version 2.0.11'; exit 3")
	if got != "mosquitto version 2.0.11" {
		t.Errorf("version %q", got)
	}
}

func TestBrokerAddr(t *testing.T) {
	for in, want := range map[string]string{"tcp://h:1884": "h:1884", "tcp://h": "h:1883", "ssl://h": "h:8883"} {
		if got, err := brokerAddr(in); err != nil || got != want {
			t.Errorf("%s: %q %v", in, got, err)
		}
	}
}
