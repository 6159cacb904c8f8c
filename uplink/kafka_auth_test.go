package uplink

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent/model"

	"github.com/twmb/franz-go/pkg/kfake"
)

// selfSigned writes a CA certificate to dir and returns it with a server
// certificate it signed for "broker.test" and 127.0.0.1.
func selfSigned(t *testing.T, dir string) (caFile string, server tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "edgespool test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "broker.test"},
		DNSNames: []string{"broker.test"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return caFile, tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: key}
}

func TestKafkaTLSAndSASL(t *testing.T) {
	caFile, cert := selfSigned(t, t.TempDir())
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser(mech, "edge", "s3cret"),
				kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}),
				kfake.AllowAutoTopicCreation(), kfake.SeedTopics(3, DefaultRawTopic))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			send := func(o KafkaOptions) error {
				o.Brokers, o.MaxAttempts, o.WriteTimeout = c.ListenAddrs(), 1, 2*time.Second
				s, err := NewKafka(o)
				if err != nil {
					return err
				}
				defer s.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				return s.Send(ctx, []Message{rawMessage(reading(1, 1))})
			}
			good := KafkaOptions{TLS: TLSOptions{CAFile: caFile, ServerName: "broker.test"},
				SASL: SASLOptions{Mechanism: mech, Username: "edge", Password: "s3cret"}}
			if err := send(good); err != nil {
				t.Fatalf("TLS + %s: %v", mech, err)
			}
			wrongPass := good
			wrongPass.SASL.Password = "nope"
			if err := send(wrongPass); err == nil || IsRejected(err) { // kfake hangs up: EOF
				t.Errorf("wrong password: %v, want a retryable error", err)
			}
			untrusted := good
			untrusted.TLS = TLSOptions{Enable: true}
			if err := send(untrusted); err == nil || IsRejected(err) || !strings.Contains(err.Error(), "certificate") {
				t.Errorf("untrusted CA: %v, want a retryable certificate error", err)
			}
			skip := good
			skip.TLS = TLSOptions{InsecureSkipVerify: true}
			if err := send(skip); err != nil {
				t.Errorf("insecure skip verify: %v", err)
			}
		})
	}
}

func TestKafkaOptionsValidation(t *testing.T) {
	bad := []KafkaOptions{
		{},
		{Brokers: []string{"x:1"}, Compression: "brotli"},
		{Brokers: []string{"x:1"}, SASL: SASLOptions{Mechanism: "GSSAPI"}},
		{Brokers: []string{"x:1"}, TLS: TLSOptions{CAFile: "/nonexistent/ca.pem"}},
	}
	for i, o := range bad {
		if _, err := NewKafka(o); err == nil {
			t.Errorf("options %d accepted: %+v", i, o)
		}
	}
	for _, c := range []string{"", "lz4", "none", "gzip", "snappy", "zstd", "LZ4"} {
		if _, err := NewKafka(KafkaOptions{Brokers: []string{"x:1"}, Compression: c}); err != nil {
			t.Errorf("compression %q: %v", c, err)
		}
	}
}

func TestKafkaMissingTopicKeepsRetrying(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := NewKafka(KafkaOptions{Brokers: c.ListenAddrs(), MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Topics are not created by default: the send fails, retryably.
	err = s.Send(ctx, []Message{rawMessage(reading(1, 1))})
	if err == nil || IsRejected(err) || !strings.Contains(err.Error(), "Unknown Topic Or Partition") {
		t.Fatalf("missing topic: %v, want a retryable unknown-topic error", err)
	}
	auto, err := NewKafka(KafkaOptions{Brokers: c.ListenAddrs(), AutoCreateTopics: true})
	if err != nil {
		t.Fatal(err)
	}
	defer auto.Close()
	if err := auto.Send(ctx, []Message{rawMessage(reading(1, 1)),
		{Stream: model.StreamDownsampled, Value: model.AppendPoint(nil, point(1, 1))}}); err != nil {
		t.Fatalf("auto-created topics: %v", err)
	}
}
