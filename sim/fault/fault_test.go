package fault_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent/clock"
	"github.com/edgespool/edgespool/sim/fault"
	"github.com/edgespool/edgespool/sim/testenv"
)

// echo dials addr, sends a line and returns how long the answer took.
func echo(addr string) (time.Duration, error) {
	start := time.Now()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(c, "ping\n"); err != nil {
		return 0, err
	}
	if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

func TestToxiproxyCutRestoreLatency(t *testing.T) {
	x := testenv.Toxiproxy(t)
	c := fault.New(x.Addr, fault.Options{})
	listen := "127.0.0.1:" + freePort(t)
	p, err := c.Create("kafka", listen, testenv.EchoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create("kafka", listen, p.Upstream); err != nil {
		t.Fatalf("re-create identical proxy: %v", err)
	}
	if _, err := echo(listen); err != nil {
		t.Fatalf("through proxy: %v", err)
	}
	must(t, c.Cut("kafka"))
	if _, err := echo(listen); err == nil {
		t.Fatal("echo works through a cut link")
	}
	list, err := c.List()
	if err != nil || len(list) != 1 || list[0].Enabled || !strings.Contains(list[0].String(), "CUT") {
		t.Fatalf("list %v, %v", list, err)
	}
	must(t, c.Restore("kafka"))
	must(t, c.Latency("kafka", 150*time.Millisecond, 0))
	if d, err := echo(listen); err != nil || d < 250*time.Millisecond {
		t.Fatalf("latency toxic: round trip %v, %v", d, err)
	}
	must(t, c.Bandwidth("kafka", 64))
	must(t, c.Clear("kafka"))
	if d, err := echo(listen); err != nil || d > 250*time.Millisecond {
		t.Fatalf("after clear: round trip %v, %v", d, err)
	}
	must(t, c.Delete("kafka"))
	if err := c.Cut("kafka"); err == nil {
		t.Fatal("cut of a deleted proxy succeeded")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	return p
}

type fakeLink struct {
	events []string
	failAt int
}

func (l *fakeLink) Cut() error {
	l.events = append(l.events, "cut")
	if l.failAt == len(l.events) {
		return errors.New("api down")
	}
	return nil
}

func (l *fakeLink) Restore() error { l.events = append(l.events, "restore"); return nil }

func TestFlapSchedule(t *testing.T) {
	l, s := &fakeLink{}, clock.NewAuto(time.Time{})
	n, err := fault.Flap(context.Background(), l, fault.Schedule{Down: 10 * time.Second, Up: 20 * time.Second, Cycles: 3}, s, nil)
	if slept := s.Now().Sub(time.Time{}); err != nil || n != 3 || slept != 90*time.Second {
		t.Fatalf("cycles %d slept %v err %v", n, slept, err)
	}
	if got := strings.Join(l.events, ","); got != "cut,restore,cut,restore,cut,restore,restore" {
		t.Fatalf("events %s", got)
	}
}

func TestFlapLeavesLinkRestoredOnErrorAndCancel(t *testing.T) {
	l := &fakeLink{failAt: 3}
	n, err := fault.Flap(context.Background(), l, fault.Schedule{Down: time.Second, Up: time.Second}, clock.NewAuto(time.Time{}), nil)
	if err == nil || n != 1 || l.events[len(l.events)-1] != "restore" {
		t.Fatalf("n %d err %v events %v", n, err, l.events)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	l = &fakeLink{}
	if _, err := fault.Flap(ctx, l, fault.Schedule{Down: time.Hour}, nil, nil); err != nil || l.events[len(l.events)-1] != "restore" {
		t.Fatalf("cancelled flap: %v %v", err, l.events)
	}
	if _, err := fault.Flap(ctx, l, fault.Schedule{}, nil, nil); err == nil {
		t.Fatal("zero schedule accepted")
	}
}
