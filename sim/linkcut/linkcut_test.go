package linkcut

import (
	"bufio"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/edgespool/edgespool/sim/testenv"
)

func newProxy(t *testing.T) *Proxy {
	t.Helper()
	p, err := New("127.0.0.1:0", testenv.EchoServer(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func roundTrip(c net.Conn, msg string, timeout time.Duration) (string, error) {
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(c, msg+"\n"); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return line, err
}

func dial(t *testing.T, p *Proxy) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestForwards(t *testing.T) {
	p := newProxy(t)
	c := dial(t, p)
	if got, err := roundTrip(c, "hello", 5*time.Second); err != nil || got != "hello\n" {
		t.Fatalf("got %q, %v", got, err)
	}
	// The proxy counts a chunk after writing it on, so the echo can reach
	// the client an instant before its 6 bytes are counted.
	deadline := time.Now().Add(5 * time.Second)
	s := p.Stats()
	for (s.Accepted != 1 || s.Bytes < 12) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		s = p.Stats()
	}
	if s.Accepted != 1 || s.Bytes < 12 {
		t.Fatalf("stats %+v", s)
	}
}

func TestResetClosesAndRefuses(t *testing.T) {
	p := newProxy(t)
	c := dial(t, p)
	roundTrip(c, "up", 5*time.Second)
	p.Cut(Reset)
	if _, err := roundTrip(c, "during cut", 5*time.Second); err == nil {
		t.Fatal("existing connection still works after a reset cut")
	}
	c2 := dial(t, p)
	if _, err := roundTrip(c2, "new", 5*time.Second); err == nil {
		t.Fatal("new connection works during a reset cut")
	}
	if p.Stats().Refused == 0 {
		t.Fatal("refused connection not counted")
	}
	p.Restore()
	c3 := dial(t, p)
	if got, err := roundTrip(c3, "back", 5*time.Second); err != nil || got != "back\n" {
		t.Fatalf("after restore: %q, %v", got, err)
	}
}

func TestStallHoldsThenDelivers(t *testing.T) {
	p := newProxy(t)
	c := dial(t, p)
	roundTrip(c, "up", 5*time.Second)
	p.Cut(Stall)
	_, err := roundTrip(c, "held", 300*time.Millisecond)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("stalled link answered: %v", err)
	}
	p.Restore()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "held\n" {
		t.Fatalf("held bytes after restore: %q, %v", line, err)
	}
}

func TestStallThenResetThenClose(t *testing.T) {
	p := newProxy(t)
	c := dial(t, p)
	roundTrip(c, "up", 5*time.Second)
	p.Cut(Stall)
	io.WriteString(c, "x\n")
	time.Sleep(50 * time.Millisecond)
	p.Cut(Reset) // waiters must wake up and give up
	done := make(chan struct{})
	go func() { p.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs after a stall turned into a reset")
	}
}
