package uplink

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent/clock"
)

// cutSink is a sink behind a link that is cut until back: sends fail like
// a refused connection and probes fail until the clock reaches back.
type cutSink struct {
	memSink
	clk   *clock.Auto
	back  time.Time
	mu    sync.Mutex
	sends []time.Time // clock time of each send
	probe int
}

func (s *cutSink) up() bool { return !s.clk.Now().Before(s.back) }

func (s *cutSink) Send(ctx context.Context, msgs []Message) error {
	s.mu.Lock()
	s.sends = append(s.sends, s.clk.Now())
	s.mu.Unlock()
	if !s.up() {
		return Retryable(&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")})
	}
	return s.memSink.Send(ctx, msgs)
}

func (s *cutSink) Probe(context.Context) error {
	s.mu.Lock()
	s.probe++
	s.mu.Unlock()
	if !s.up() {
		return errors.New("connection refused")
	}
	return nil
}

// firstSendAfterBack runs a forwarder through an outage of length cut and
// returns how long after the link came back its first send went out.
func firstSendAfterBack(t *testing.T, cut, probeInterval time.Duration) (time.Duration, *cutSink) {
	clk := newFakeClock()
	s := &cutSink{memSink: memSink{name: "mem"}, clk: clk, back: clk.Now().Add(cut)}
	l := newMemLog()
	appendRecs(t, l, rawRecords(10, 2))
	link := NewLink("mem", LinkOptions{ProbeInterval: probeInterval, Clock: clk})
	f := newFwd(t, l, s, ForwarderOptions{Link: link, Clock: clk,
		Backoff: BackoffOptions{Min: 100 * time.Millisecond, Max: 5 * time.Minute}})
	stop := start(t, f)
	waitFor(t, "drain", func() bool { return l.cursor("mem/raw", "raw") == 10 })
	stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, at := range s.sends {
		if !at.Before(s.back) {
			return at.Sub(s.back), s
		}
	}
	t.Fatal("no send after the link came back")
	return 0, nil
}

func TestForwarderResumesWithinProbeIntervalOfLinkReturn(t *testing.T) {
	for _, cut := range []time.Duration{20 * time.Second, 10 * time.Minute, 3 * time.Hour} {
		late, s := firstSendAfterBack(t, cut, time.Second)
		if late > time.Second {
			t.Errorf("cut %v: first send %v after the link came back, want within the 1s probe interval", cut, late)
		}
		// Sends back off while probes poll: far fewer sends than probes.
		if len(s.sends) > int(cut/(2*time.Minute))+20 || s.probe < int(cut/time.Second)/2 {
			t.Errorf("cut %v: %d sends and %d probes", cut, len(s.sends), s.probe)
		}
	}
	// Without probes, the backoff decides: the same outage ends much later.
	if late, _ := firstSendAfterBack(t, 10*time.Minute, -1); late <= time.Second {
		t.Errorf("without probes the first send came %v after the return: the test cannot tell", late)
	}
}

func TestForwarderBacksOffFromAReachableServerAnsweringErrors(t *testing.T) {
	clk := newFakeClock()
	// The probe connects, but every send fails: the server answers errors.
	s := &cutSink{memSink: memSink{name: "mem"}, clk: clk}
	s.fail = func([]Message) error { return Retryable(errors.New("503 from a proxy")) }
	l := newMemLog()
	appendRecs(t, l, rawRecords(1, 1))
	f := newFwd(t, l, s, ForwarderOptions{Clock: clk, Backoff: BackoffOptions{Min: time.Second, Max: time.Minute}})
	began := clk.Now()
	stop := start(t, f)
	waitFor(t, "an hour of retries", func() bool { return clk.Now().Sub(began) > time.Hour })
	stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, at := range s.sends {
		if at.Sub(began) <= time.Hour {
			n++
		}
	}
	if n > 130 { // an hour at the 1 min cap with jitter: 60-120 sends; probing every second: 3600
		t.Fatalf("%d sends in an hour: the probe defeated the backoff", n)
	}
}
