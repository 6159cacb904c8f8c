package uplink

import (
	"fmt"
	"strings"

	"github.com/edgespool/edgespool/agent/tlsconf"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// TLSOptions configure TLS to a sink (see package tlsconf).
type TLSOptions = tlsconf.Options

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
