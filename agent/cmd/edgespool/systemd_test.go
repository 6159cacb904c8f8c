package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgespool/edgespool/sim/testenv"
)

// notifySocket is a fake systemd NOTIFY_SOCKET: it keeps every datagram.
type notifySocket struct {
	path string
	conn *net.UnixConn
	mu   sync.Mutex
	msgs []string
	news chan struct{}
}

func newNotifySocket(t *testing.T) *notifySocket {
	t.Helper()
	dir, err := os.MkdirTemp("", "sdn") // short: socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &notifySocket{path: filepath.Join(dir, "notify"), news: make(chan struct{}, 1)}
	s.conn, err = net.ListenUnixgram("unixgram", &net.UnixAddr{Name: s.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.conn.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := s.conn.Read(buf)
			if err != nil {
				return
			}
			s.mu.Lock()
			s.msgs = append(s.msgs, string(buf[:n]))
			s.mu.Unlock()
			select {
			case s.news <- struct{}{}:
			default:
			}
		}
	}()
	return s
}

// count is how many datagrams after the first skip contain line.
func (s *notifySocket) count(line string, skip int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, m := range s.msgs[min(skip, len(s.msgs)):] {
		if slicesContainsLine(m, line) {
			n++
		}
	}
	return n
}

func (s *notifySocket) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

func slicesContainsLine(msg, line string) bool {
	for _, l := range strings.Split(msg, "\n") {
		if l == line {
			return true
		}
	}
	return false
}

func (s *notifySocket) wait(t *testing.T, what string, skip, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for s.count(what, skip) < n {
		select {
		case <-s.news:
		case <-deadline:
			s.mu.Lock()
			defer s.mu.Unlock()
			t.Fatalf("%d × %q not received within %v; got %q", n, what, timeout, s.msgs)
		}
	}
}

// TestSystemdNotifyReloadAndStop runs `edgespool run` as systemd would
// with Type=notify and a watchdog: READY=1 comes once MQTT is subscribed,
// WATCHDOG=1 keeps coming, SIGHUP reloads (RELOADING=1 then READY=1): the
// log file moved away by logrotate is reopened, the new log level applies
// at once and a changed key that needs a restart is named; an invalid file
// is refused and the running configuration stays; SIGTERM sends STOPPING=1.
func TestSystemdNotifyReloadAndStop(t *testing.T) {
	b := testenv.Mosquitto(t)
	dir := t.TempDir()
	sock := newNotifySocket(t)
	cfgPath, logPath := filepath.Join(dir, "edgespool.yaml"), filepath.Join(dir, "agent.log")
	http := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	conf := func(level, keepalive string) string {
		return fmt.Sprintf("mqtt:\n  broker: %s\n  client_id: sd-test\n  keepalive: %s\nspool:\n  path: %s\n"+
			"downsample:\n  enabled: false\nhttp:\n  listen: %s\nlog:\n  level: %s\n  file: %s\n",
			b.URL, keepalive, filepath.Join(dir, "spool.db"), http, level, logPath)
	}
	writeFile(t, cfgPath, conf("info", "30s"))
	cmd := exec.Command(os.Args[0], "run", "-config", cfgPath)
	cmd.Env = append(os.Environ(), "EDGESPOOL_TEST_AGENT=1", "NOTIFY_SOCKET="+sock.path, "WATCHDOG_USEC=400000")
	out, _ := os.Create(filepath.Join(dir, "stderr"))
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})

	sock.wait(t, "READY=1", 0, 1, 20*time.Second)
	if !strings.Contains(readFile(t, logPath), `msg="mqtt subscribed"`) {
		t.Errorf("READY=1 before the MQTT subscription:\n%s", readFile(t, logPath))
	}
	sock.wait(t, "WATCHDOG=1", 0, 3, 10*time.Second)

	// logrotate: move the file away, then HUP with a new level and keepalive.
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, cfgPath, conf("debug", "45s"))
	before := sock.len()
	cmd.Process.Signal(syscall.SIGHUP)
	sock.wait(t, "RELOADING=1", before, 1, 10*time.Second)
	sock.wait(t, "READY=1", before, 1, 10*time.Second)
	testenv.WaitFor(t, 10*time.Second, func() bool {
		return strings.Contains(readFile(t, logPath), `msg="config reloaded"`)
	})
	if l := readFile(t, logPath); !strings.Contains(l, "restart_needed=[mqtt.keepalive]") || !strings.Contains(l, "log_level=DEBUG") { // "level" is the record's own key
		t.Errorf("reload log line does not name the key needing a restart:\n%s", l)
	}

	// An invalid file: refused, logged, the agent runs on.
	writeFile(t, cfgPath, "mqtt:\n  broker: [\n")
	before = sock.len()
	cmd.Process.Signal(syscall.SIGHUP)
	sock.wait(t, "READY=1", before, 1, 10*time.Second)
	testenv.WaitFor(t, 10*time.Second, func() bool {
		return strings.Contains(readFile(t, logPath), "config not reloaded")
	})
	before = sock.len()
	sock.wait(t, "WATCHDOG=1", before, 2, 10*time.Second)

	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v\n%s", err, readFile(t, logPath))
	}
	sock.wait(t, "STOPPING=1", 0, 1, time.Second)
	l := readFile(t, logPath)
	if !strings.Contains(l, "level=DEBUG") {
		t.Errorf("debug level not applied after the reload:\n%s", l)
	}
	if strings.Contains(readFile(t, logPath+".1"), "level=DEBUG") {
		t.Errorf("debug lines before the reload")
	}
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}
