package uplink

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"

	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// TLSOptions configure TLS to a sink. TLS is used when Enable is set or
// any other field is.
type TLSOptions struct {
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

func (o TLSOptions) enabled() bool {
	return o.Enable || o.CAFile != "" || o.CertFile != "" || o.KeyFile != "" ||
		o.ServerName != "" || o.InsecureSkipVerify
}

// Config returns the tls.Config for o, or nil when TLS is not enabled.
func (o TLSOptions) Config() (*tls.Config, error) {
	if !o.enabled() {
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

// SASLOptions configure Kafka SASL authentication.
type SASLOptions struct {
	// Mechanism is "" (none), "PLAIN", "SCRAM-SHA-256" or "SCRAM-SHA-512".
	Mechanism          string
	Username, Password string
}

// mechanism returns the kafka-go SASL mechanism, or nil for none.
func (o SASLOptions) mechanism() (sasl.Mechanism, error) {
	switch strings.ToUpper(o.Mechanism) {
	case "":
		return nil, nil
	case "PLAIN":
		return plain.Mechanism{Username: o.Username, Password: o.Password}, nil
	case "SCRAM-SHA-256":
		return scram.Mechanism(scram.SHA256, o.Username, o.Password)
	case "SCRAM-SHA-512":
		return scram.Mechanism(scram.SHA512, o.Username, o.Password)
	}
	return nil, fmt.Errorf("sasl mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", o.Mechanism)
}
