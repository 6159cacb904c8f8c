package mqttconn

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/net/proxy"
)

// Open dials the broker at uri as paho would with o (TLS config, connect
// timeout, dialer, websocket options) and wraps stream connections in a
// Conn. It is a paho OpenConnectionFunc.
func Open(uri *url.URL, o mqtt.ClientOptions) (net.Conn, error) { return open(uri, o, Options{}) }

// Opener returns Open with the Conn options co.
func Opener(co Options) mqtt.OpenConnectionFunc {
	return func(uri *url.URL, o mqtt.ClientOptions) (net.Conn, error) { return open(uri, o, co) }
}

func open(uri *url.URL, o mqtt.ClientOptions, co Options) (net.Conn, error) {
	dialer := o.Dialer
	if dialer == nil {
		dialer = &net.Dialer{Timeout: o.ConnectTimeout}
	}
	switch uri.Scheme {
	case "ws", "wss":
		u := *uri
		u.User = nil // as paho: the websocket dialer refuses URLs with user info
		var tc *tls.Config
		if uri.Scheme == "wss" {
			tc = o.TLSConfig
		}
		return mqtt.NewWebsocket(u.String(), tc, o.ConnectTimeout, o.HTTPHeaders, o.WebsocketOptions)
	case "mqtt", "tcp":
		c, err := proxy.FromEnvironmentUsing(dialer).Dial("tcp", uri.Host)
		if err != nil {
			return nil, err
		}
		return WrapWith(c, co), nil
	case "unix":
		path := uri.Host
		if path == "" {
			path = uri.Path
		}
		c, err := dialer.Dial("unix", path)
		if err != nil {
			return nil, err
		}
		return WrapWith(c, co), nil
	case "ssl", "tls", "mqtts", "mqtt+ssl", "tcps":
		c, err := dialTLS(dialer, uri.Host, o.TLSConfig)
		if err != nil {
			return nil, err
		}
		return WrapWith(c, co), nil
	}
	return nil, fmt.Errorf("mqttconn: unknown scheme %q in broker URL", uri.Scheme)
}

// dialTLS dials host (through a proxy from the environment when one is
// set) and completes the TLS handshake within the dialer's timeout.
func dialTLS(dialer *net.Dialer, host string, tc *tls.Config) (net.Conn, error) {
	c, err := proxy.FromEnvironmentUsing(dialer).Dial("tcp", host)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	if dialer.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, dialer.Timeout)
		defer cancel()
	}
	t := tls.Client(c, tlsConfigFor(tc, host))
	if err := t.HandshakeContext(ctx); err != nil {
		_ = c.Close()
		return nil, err
	}
	return t, nil
}

// tlsConfigFor fills in ServerName from host when tc leaves it empty, as
// tls.Dial does.
func tlsConfigFor(tc *tls.Config, host string) *tls.Config {
	if tc == nil {
		tc = &tls.Config{}
	}
	if tc.ServerName != "" || tc.InsecureSkipVerify {
		return tc
	}
	name, _, err := net.SplitHostPort(host)
	if err != nil {
		name = host
	}
	tc = tc.Clone()
	tc.ServerName = name
	return tc
}
