package testenv

import (
	"syscall"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"
)

// Toxi is a Toxiproxy server on a free loopback port.
type Toxi struct {
	// Addr is the API address host:port.
	Addr   string
	Client *toxiproxy.Client
	proc   *process
}

// Proxy is one TCP proxy of a Toxi server.
type Proxy struct {
	// Listen is where clients connect; Upstream is the real server.
	Listen, Upstream string
	*toxiproxy.Proxy
}

// Toxiproxy starts a Toxiproxy server and stops it when the test ends.
func Toxiproxy(t testing.TB) *Toxi {
	t.Helper()
	bin := Tool(t, "toxiproxy-server")
	port := FreePort(t)
	x := &Toxi{Addr: hostPort(port)}
	x.proc = startProcess(t, t.TempDir(), "toxiproxy", bin,
		"-host", "127.0.0.1", "-port", itoa(port))
	x.proc.waitReady(t, 20*time.Second, dialable(x.Addr))
	x.Client = toxiproxy.NewClient(x.Addr)
	t.Cleanup(func() { x.proc.stop(syscall.SIGTERM, 5*time.Second) })
	return x
}

// Proxy creates a proxy named name from a free loopback port to upstream.
func (x *Toxi) Proxy(t testing.TB, name, upstream string) *Proxy {
	t.Helper()
	listen := hostPort(FreePort(t))
	p, err := x.Client.CreateProxy(name, listen, upstream)
	if err != nil {
		t.Fatalf("toxiproxy create %s: %v", name, err)
	}
	return &Proxy{Listen: listen, Upstream: upstream, Proxy: p}
}

// Cut closes every connection through the proxy and refuses new ones.
func (p *Proxy) Cut(t testing.TB) {
	t.Helper()
	if err := p.Disable(); err != nil {
		t.Fatalf("toxiproxy disable %s: %v", p.Name, err)
	}
}

// Restore lets connections through again.
func (p *Proxy) Restore(t testing.TB) {
	t.Helper()
	if err := p.Enable(); err != nil {
		t.Fatalf("toxiproxy enable %s: %v", p.Name, err)
	}
}

// Latency adds a latency toxic in both directions; remove it with
// RemoveToxic("latency_down") and RemoveToxic("latency_up").
func (p *Proxy) Latency(t testing.TB, latency, jitter time.Duration) {
	t.Helper()
	attrs := toxiproxy.Attributes{"latency": latency.Milliseconds(), "jitter": jitter.Milliseconds()}
	for _, dir := range []string{"downstream", "upstream"} {
		name := "latency_" + dir[:len(dir)-6]
		if _, err := p.AddToxic(name, "latency", dir, 1, attrs); err != nil {
			t.Fatalf("toxiproxy latency: %v", err)
		}
	}
}

// Bandwidth limits the proxy to kbps kilobytes per second each way.
func (p *Proxy) Bandwidth(t testing.TB, kbps int64) {
	t.Helper()
	for _, dir := range []string{"downstream", "upstream"} {
		if _, err := p.AddToxic("bandwidth_"+dir, "bandwidth", dir, 1, toxiproxy.Attributes{"rate": kbps}); err != nil {
			t.Fatalf("toxiproxy bandwidth: %v", err)
		}
	}
}
