package drill

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/edgespool/edgespool/sim/fault"
	"github.com/edgespool/edgespool/sim/linkcut"
)

// ErrUnsupported is returned for a fault the link's injector cannot make
// (latency or bandwidth on the built-in link cutter).
var ErrUnsupported = errors.New("unsupported")

// Breaker breaks one uplink.
type Breaker interface {
	Cut() error
	Restore() error
	Latency(latency, jitter time.Duration) error
	Bandwidth(kbps int64) error
	Clear() error
}

// toxiLink breaks every proxy of a link through Toxiproxy.
type toxiLink struct {
	c       *fault.Client
	proxies []string
}

func (t toxiLink) each(fn func(name string) error) error {
	var errs []error
	for _, p := range t.proxies {
		errs = append(errs, fn(p))
	}
	return errors.Join(errs...)
}

func (t toxiLink) Cut() error     { return t.each(t.c.Cut) }
func (t toxiLink) Restore() error { return t.each(t.c.Restore) }
func (t toxiLink) Clear() error   { return t.each(t.c.Clear) }

func (t toxiLink) Latency(latency, jitter time.Duration) error {
	return t.each(func(p string) error { return t.c.Latency(p, latency, jitter) })
}

func (t toxiLink) Bandwidth(kbps int64) error {
	return t.each(func(p string) error { return t.c.Bandwidth(p, kbps) })
}

// cutterLink is a built-in link cutter run by the drill.
type cutterLink struct{ p *linkcut.Proxy }

func (c cutterLink) Cut() error     { c.p.Cut(linkcut.Reset); return nil }
func (c cutterLink) Restore() error { c.p.Restore(); return nil }
func (c cutterLink) Clear() error   { c.p.Restore(); return nil }

func (c cutterLink) Latency(time.Duration, time.Duration) error {
	return fmt.Errorf("latency: %w by the built-in link cutter (use Toxiproxy)", ErrUnsupported)
}

func (c cutterLink) Bandwidth(int64) error {
	return fmt.Errorf("bandwidth: %w by the built-in link cutter (use Toxiproxy)", ErrUnsupported)
}

// openLinks returns a Breaker per configured link and a function that
// stops the built-in cutters.
func openLinks(l Links, log *slog.Logger) (map[string]Breaker, func(), error) {
	out := map[string]Breaker{}
	var cutters []*linkcut.Proxy
	stop := func() {
		for _, c := range cutters {
			c.Close()
		}
	}
	var tc *fault.Client
	for name, link := range map[string]Link{LinkKafka: l.Kafka, LinkInflux: l.InfluxDB} {
		switch {
		case len(link.Proxies) > 0:
			if l.Toxiproxy == "" {
				stop()
				return nil, nil, fmt.Errorf("%w: site.links.%s.proxies needs site.links.toxiproxy (the API address)", ErrBadDrill, name)
			}
			if tc == nil {
				tc = fault.New(l.Toxiproxy, fault.Options{Logger: log})
			}
			out[name] = toxiLink{c: tc, proxies: link.Proxies}
		case link.configured():
			p, err := linkcut.New(link.Listen, link.Upstream, linkcut.Options{Logger: log})
			if err != nil {
				stop()
				return nil, nil, err
			}
			cutters = append(cutters, p)
			out[name] = cutterLink{p}
		}
	}
	return out, stop, nil
}
