// Package tlsconf builds the client TLS configuration shared by the MQTT
// intake and the uplink sinks, from PEM files named in the configuration.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// Options configure TLS to a server (broker or sink). TLS is used when Enable is set or
// any other field is.
type Options struct {
	Enable bool
	// CAFile is a PEM bundle of the CAs to trust (default: system roots).
	CAFile string
	// CertFile and KeyFile are the client certificate and key (PEM), for
	// servers that require client authentication.
	CertFile, KeyFile string
	// ServerName overrides the name checked in the server's certificate.
	ServerName string
	// InsecureSkipVerify disables server certificate checks (testing only).
	InsecureSkipVerify bool
}

// Enabled reports whether TLS is to be used.
func (o Options) Enabled() bool {
	return o.Enable || o.CAFile != "" || o.CertFile != "" || o.KeyFile != "" ||
		o.ServerName != "" || o.InsecureSkipVerify
}

// Config returns the tls.Config for o, or nil when TLS is not enabled.
func (o Options) Config() (*tls.Config, error) {
	if !o.Enabled() {
		return nil, nil
	}
	c := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         o.ServerName,
		InsecureSkipVerify: o.InsecureSkipVerify, //nolint:gosec // operator's explicit choice
	}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls ca: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls ca %s: no PEM certificate", o.CAFile)
		}
	}
	if o.CertFile != "" || o.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}
