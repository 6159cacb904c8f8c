package uplink

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/edgespool/edgespool/agent/clock"
)

// Prober is implemented by sinks that can tell cheaply whether their
// server is reachable again: Probe opens and closes a TCP connection to
// one of its addresses, sending no data.
type Prober interface {
	Probe(ctx context.Context) error
}

// probeTimeout bounds one connection attempt of a probe.
const probeTimeout = time.Second

// dialAny opens and closes a TCP connection to the first address of addrs
// that accepts one.
func dialAny(ctx context.Context, addrs []string) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	var d net.Dialer
	var errs []error
	for _, a := range addrs {
		c, err := d.DialContext(ctx, "tcp", a)
		if err == nil {
			return c.Close()
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("probe: %w", errors.Join(errs...))
}

// Probe connects to one of the bootstrap brokers.
func (k *Kafka) Probe(ctx context.Context) error { return dialAny(ctx, k.o.Brokers) }

// Probe connects to the InfluxDB server's host and port.
func (in *Influx) Probe(ctx context.Context) error {
	u, err := url.Parse(in.o.URL)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return dialAny(ctx, []string{net.JoinHostPort(u.Hostname(), port)})
}

// useProber makes the link probe p while it is down (the first sink that
// can probe wins; every forwarder of a link has the same sink).
func (l *Link) useProber(p Prober) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.prober == nil && l.o.ProbeInterval > 0 {
		l.prober = p
	}
}

// reachable probes the server, at most once per half probe interval for
// all the forwarders of the link (they share the last result).
func (l *Link) reachable(ctx context.Context) bool {
	l.probeMu.Lock()
	defer l.probeMu.Unlock()
	now := l.clk.Now()
	if !l.probedAt.IsZero() && now.Sub(l.probedAt) < l.o.ProbeInterval/2 {
		return l.probeOK
	}
	l.probeOK = l.prober.Probe(ctx) == nil
	l.probedAt = l.clk.Now()
	l.m.probes.WithLabelValues(l.name, probeResult(l.probeOK)).Inc()
	return l.probeOK
}

func probeResult(ok bool) string {
	if ok {
		return "reachable"
	}
	return "unreachable"
}

// waitRetry waits d before a failed send is retried. While the server
// cannot be connected to at all, it probes every ProbeInterval instead and
// returns as soon as a probe connects (returned true): the link is back
// and the caller retries at once. A server that accepts connections but
// answers with errors is left alone for all of d.
func (l *Link) waitRetry(ctx context.Context, d time.Duration) (back bool, err error) {
	l.mu.Lock()
	p := l.prober
	l.mu.Unlock()
	if p == nil || l.reachable(ctx) {
		return false, clock.Sleep(ctx, l.clk, d)
	}
	deadline := l.clk.Now().Add(d)
	for {
		left := deadline.Sub(l.clk.Now())
		if left <= 0 {
			return false, nil
		}
		if err := clock.Sleep(ctx, l.clk, min(left, l.o.ProbeInterval)); err != nil {
			return false, err
		}
		if l.reachable(ctx) {
			return true, nil
		}
	}
}
