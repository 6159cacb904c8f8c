// Package fault drives a Toxiproxy server so that an operator can break the
// uplink of their own site on purpose: create a proxy in front of the
// Kafka or InfluxDB endpoint, point the agent at it, then cut and restore
// the link, add latency or a bandwidth cap, or run a flapping schedule.
package fault

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"
)

// DefaultAPI is Toxiproxy's default API address.
const DefaultAPI = "127.0.0.1:8474"

// Toxic names used by this package (so that they can be updated/removed).
const (
	toxicLatency   = "edgespool_latency"
	toxicBandwidth = "edgespool_bandwidth"
)

// Options configure a Client; zero values mean the defaults.
type Options struct {
	Logger *slog.Logger
}

// Client wraps the Toxiproxy API.
type Client struct {
	c   *toxiproxy.Client
	log *slog.Logger
}

// New returns a client for the Toxiproxy API at api (host:port or URL).
func New(api string, o Options) *Client {
	if api == "" {
		api = DefaultAPI
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Client{c: toxiproxy.NewClient(api), log: o.Logger}
}

// ProxyState describes one proxy.
type ProxyState struct {
	Name, Listen, Upstream string
	Enabled                bool
	Toxics                 []string // "name(type) attrs"
}

func (p ProxyState) String() string {
	state := "up"
	if !p.Enabled {
		state = "CUT"
	}
	s := fmt.Sprintf("%-16s %-5s %s -> %s", p.Name, state, p.Listen, p.Upstream)
	if len(p.Toxics) > 0 {
		s += "  [" + strings.Join(p.Toxics, "; ") + "]"
	}
	return s
}

// Create makes a proxy listening on listen and forwarding to upstream. An
// existing proxy of that name is kept when it matches, replaced otherwise.
func (c *Client) Create(name, listen, upstream string) (ProxyState, error) {
	if p, err := c.c.Proxy(name); err == nil {
		if p.Listen == listen && p.Upstream == upstream {
			return state(p), nil
		}
		if err := p.Delete(); err != nil {
			return ProxyState{}, fmt.Errorf("replace proxy %s: %w", name, err)
		}
	}
	p, err := c.c.CreateProxy(name, listen, upstream)
	if err != nil {
		return ProxyState{}, fmt.Errorf("create proxy %s: %w", name, err)
	}
	c.log.Info("proxy created", "name", name, "listen", p.Listen, "upstream", upstream)
	return state(p), nil
}

func state(p *toxiproxy.Proxy) ProxyState {
	s := ProxyState{Name: p.Name, Listen: p.Listen, Upstream: p.Upstream, Enabled: p.Enabled}
	for _, t := range p.ActiveToxics {
		s.Toxics = append(s.Toxics, fmt.Sprintf("%s(%s) %v", t.Name, t.Type, t.Attributes))
	}
	return s
}

// List returns every proxy, sorted by name.
func (c *Client) List() ([]ProxyState, error) {
	m, err := c.c.Proxies()
	if err != nil {
		return nil, fmt.Errorf("list proxies: %w", err)
	}
	out := make([]ProxyState, 0, len(m))
	for _, p := range m {
		out = append(out, state(p))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Delete removes a proxy.
func (c *Client) Delete(name string) error {
	p, err := c.proxy(name)
	if err != nil {
		return err
	}
	return wrap("delete", name, p.Delete())
}

func (c *Client) proxy(name string) (*toxiproxy.Proxy, error) {
	p, err := c.c.Proxy(name)
	if err != nil {
		return nil, fmt.Errorf("proxy %s: %w", name, err)
	}
	return p, nil
}

func wrap(op, name string, err error) error {
	if err != nil {
		return fmt.Errorf("%s proxy %s: %w", op, name, err)
	}
	return nil
}

// Cut closes every connection through the proxy and refuses new ones.
func (c *Client) Cut(name string) error {
	p, err := c.proxy(name)
	if err != nil {
		return err
	}
	c.log.Info("link cut", "proxy", name)
	return wrap("cut", name, p.Disable())
}

// Restore lets connections through again (toxics stay; see Clear).
func (c *Client) Restore(name string) error {
	p, err := c.proxy(name)
	if err != nil {
		return err
	}
	c.log.Info("link restored", "proxy", name)
	return wrap("restore", name, p.Enable())
}

// Latency adds (or changes) latency and jitter in both directions.
func (c *Client) Latency(name string, latency, jitter time.Duration) error {
	attrs := toxiproxy.Attributes{"latency": latency.Milliseconds(), "jitter": jitter.Milliseconds()}
	return c.setToxic(name, toxicLatency, "latency", attrs)
}

// Bandwidth caps the rate in both directions, in KB/s.
func (c *Client) Bandwidth(name string, kbps int64) error {
	return c.setToxic(name, toxicBandwidth, "bandwidth", toxiproxy.Attributes{"rate": kbps})
}

func (c *Client) setToxic(name, toxic, typ string, attrs toxiproxy.Attributes) error {
	p, err := c.proxy(name)
	if err != nil {
		return err
	}
	for _, stream := range []string{"upstream", "downstream"} {
		tn := toxic + "_" + stream
		p.RemoveToxic(tn) // absent is fine
		if _, err := p.AddToxic(tn, typ, stream, 1, attrs); err != nil {
			return fmt.Errorf("%s on proxy %s: %w", typ, name, err)
		}
	}
	c.log.Info("toxic set", "proxy", name, "type", typ, "attributes", attrs)
	return nil
}

// Clear removes every toxic of the proxy and enables it.
func (c *Client) Clear(name string) error {
	p, err := c.proxy(name)
	if err != nil {
		return err
	}
	var errs []error
	for _, t := range p.ActiveToxics {
		errs = append(errs, p.RemoveToxic(t.Name))
	}
	errs = append(errs, p.Enable())
	return wrap("clear", name, errors.Join(errs...))
}

// Link is anything that can be cut and restored: a Toxiproxy proxy
// (Client.Link) or an in-process linkcut.Proxy.
type Link interface {
	Cut() error
	Restore() error
}

// Link returns the named proxy as a Link.
func (c *Client) Link(name string) Link { return proxyLink{c, name} }

type proxyLink struct {
	c    *Client
	name string
}

func (l proxyLink) Cut() error     { return l.c.Cut(l.name) }
func (l proxyLink) Restore() error { return l.c.Restore(l.name) }
