// Package linkcut is an in-process TCP proxy whose link can be cut and
// restored on command, for demos and tests that need an uplink outage
// without an outside fault injector.
//
// Two kinds of cut: Reset closes every connection and refuses new ones at
// once (a router that rejects), Stall stops forwarding bytes in both
// directions while keeping connections open and accepting new ones (a
// silent link: clients find out through their own timeouts). Restore ends
// either.
package linkcut

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
)

// Mode is the kind of cut.
type Mode int

// Cut modes.
const (
	Reset Mode = iota // close connections, refuse new ones
	Stall             // stop forwarding, keep connections
)

// Options configure a Proxy; the zero value is usable.
type Options struct {
	Logger *slog.Logger
	// Dial connects to the upstream; default net.Dial("tcp", upstream).
	Dial func(upstream string) (net.Conn, error)
}

// Proxy forwards TCP connections from its listen address to an upstream.
type Proxy struct {
	upstream string
	o        Options
	ln       net.Listener

	mu     sync.Mutex
	cut    bool
	mode   Mode
	resume chan struct{} // closed on Restore after a Stall
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup

	accepted, refused, bytes atomic.Uint64
}

// Stats are a proxy's counters.
type Stats struct {
	Accepted, Refused, Bytes uint64
	Cut                      bool
}

// New listens on listen (e.g. "127.0.0.1:0") and forwards to upstream.
func New(listen, upstream string, o Options) (*Proxy, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Dial == nil {
		o.Dial = func(a string) (net.Conn, error) { return net.Dial("tcp", a) }
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("linkcut listen %s: %w", listen, err)
	}
	p := &Proxy{upstream: upstream, o: o, ln: ln, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr returns the address the proxy listens on.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Stats returns the counters.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Stats{Accepted: p.accepted.Load(), Refused: p.refused.Load(), Bytes: p.bytes.Load(), Cut: p.cut}
}

// Cut cuts the link. Cutting a cut link changes its mode.
func (p *Proxy) Cut(mode Mode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		close(p.resume) // wake waiters so they see the new mode
	}
	p.resume = make(chan struct{})
	p.cut, p.mode = true, mode
	if mode == Reset {
		for c := range p.conns {
			c.Close()
		}
	}
	p.o.Logger.Info("link cut", "upstream", p.upstream, "mode", modeName(mode))
}

// Restore ends a cut.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.cut {
		return
	}
	p.cut = false
	close(p.resume)
	p.o.Logger.Info("link restored", "upstream", p.upstream)
}

func modeName(m Mode) string {
	if m == Stall {
		return "stall"
	}
	return "reset"
}

// Close stops listening and closes every connection.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	if p.cut {
		p.cut = false
		close(p.resume)
	}
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

// ErrCut is the reason a connection is refused during a Reset cut.
var ErrCut = errors.New("link cut")

// gate blocks while the link is stalled; it returns ErrCut when the link
// is cut in Reset mode or the proxy is closed.
func (p *Proxy) gate() error {
	for {
		p.mu.Lock()
		cut, mode, resume, closed := p.cut, p.mode, p.resume, p.closed
		p.mu.Unlock()
		switch {
		case closed || (cut && mode == Reset):
			return ErrCut
		case !cut:
			return nil
		}
		<-resume
	}
}
