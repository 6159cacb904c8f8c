package linkcut

import (
	"io"
	"net"
)

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			p.refused.Add(1)
			c.Close()
			continue
		}
		p.accepted.Add(1)
		p.wg.Add(1)
		go p.serve(c)
	}
}

// track registers c unless the link is cut in Reset mode or closed.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || (p.cut && p.mode == Reset) {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.conns, c)
		c.Close()
	}
}

func (p *Proxy) serve(down net.Conn) {
	defer p.wg.Done()
	if err := p.gate(); err != nil {
		p.untrack(down)
		return
	}
	up, err := p.o.Dial(p.upstream)
	if err != nil || !p.track(up) {
		p.o.Logger.Debug("linkcut upstream dial failed", "upstream", p.upstream, "err", err)
		if up != nil {
			up.Close()
		}
		p.untrack(down)
		return
	}
	done := make(chan struct{}, 2)
	go p.pipe(up, down, done)
	go p.pipe(down, up, done)
	<-done
	p.untrack(up, down)
	<-done
}

func (p *Proxy) pipe(dst, src net.Conn, done chan<- struct{}) {
	io.CopyBuffer(&gatedWriter{p: p, w: dst}, src, make([]byte, 32<<10))
	done <- struct{}{}
}

// gatedWriter holds writes while the link is stalled.
type gatedWriter struct {
	p *Proxy
	w io.Writer
}

func (g *gatedWriter) Write(b []byte) (int, error) {
	if err := g.p.gate(); err != nil {
		return 0, err
	}
	n, err := g.w.Write(b)
	g.p.bytes.Add(uint64(n))
	return n, err
}
