package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Broker is a Mosquitto server on a free loopback port, with persistence
// and queues sized so that the broker itself never drops a QoS 1 message
// for a persistent session (see design.md, "The broker is part of the
// guarantee").
type Broker struct {
	// Addr is host:port, URL is tcp://host:port.
	Addr, URL string

	t    testing.TB
	bin  string
	dir  string
	conf string
	proc *process
}

// BrokerOption adds lines to the broker's configuration file.
type BrokerOption func(*[]string)

// BrokerConfig appends raw mosquitto.conf lines.
func BrokerConfig(lines ...string) BrokerOption {
	return func(c *[]string) { *c = append(*c, lines...) }
}

// Mosquitto starts a broker and stops it when the test ends.
func Mosquitto(t testing.TB, opts ...BrokerOption) *Broker {
	t.Helper()
	b := &Broker{t: t, bin: Tool(t, "mosquitto"), dir: t.TempDir()}
	port := FreePort(t)
	b.Addr = hostPort(port)
	b.URL = "tcp://" + b.Addr
	lines := []string{
		"user root",
		fmt.Sprintf("listener %d 127.0.0.1", port),
		"allow_anonymous true",
		"persistence true",
		"persistence_location " + b.dir + "/",
		"autosave_interval 1",
		"max_queued_messages 0",
		"max_queued_bytes 0",
		"max_inflight_messages 0",
		"log_dest stdout",
		"log_type error",
		"log_type warning",
		"log_type notice",
	}
	for _, o := range opts {
		o(&lines)
	}
	b.conf = filepath.Join(b.dir, "mosquitto.conf")
	if err := os.WriteFile(b.conf, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatalf("mosquitto config: %v", err)
	}
	b.Start()
	t.Cleanup(func() { b.Stop() })
	return b
}

// Start (re)starts the broker on its port, with its persisted state.
func (b *Broker) Start() {
	b.t.Helper()
	if b.proc != nil && !b.proc.exited() {
		return
	}
	b.proc = startProcess(b.t, b.dir, "mosquitto", b.bin, "-c", b.conf)
	b.proc.waitReady(b.t, 10*time.Second, dialable(b.Addr))
}

// Stop stops the broker gracefully (it saves its persistence file).
func (b *Broker) Stop() {
	if b.proc != nil {
		b.proc.stop(syscall.SIGTERM, 10*time.Second)
	}
}

// Kill stops the broker with SIGKILL.
func (b *Broker) Kill() {
	if b.proc != nil {
		b.proc.stop(syscall.SIGKILL, time.Second)
	}
}

// PID returns the broker's process id, or 0 when it is not running.
func (b *Broker) PID() int {
	if b.proc == nil || b.proc.exited() {
		return 0
	}
	return b.proc.cmd.Process.Pid
}

// Log returns the tail of the broker's log.
func (b *Broker) Log() string {
	if b.proc == nil {
		return ""
	}
	return b.proc.logTail()
}
