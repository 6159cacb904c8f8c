package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgespool/edgespool/agent/config"
	"github.com/edgespool/edgespool/agent/intake"
	"github.com/edgespool/edgespool/sim/testenv"
)

// pki writes a CA, a server certificate for 127.0.0.1 and a client
// certificate, all signed by the CA, as PEM files in dir.
type pki struct{ ca, serverCert, serverKey, clientCert, clientKey string }

func newPKI(t *testing.T, dir string) pki {
	t.Helper()
	caKey, caCert, caDER := selfSignedCA(t)
	p := pki{ca: filepath.Join(dir, "ca.pem")}
	writePEM(t, p.ca, "CERTIFICATE", caDER)
	p.serverCert, p.serverKey = leaf(t, dir, "server", caCert, caKey, x509.ExtKeyUsageServerAuth)
	p.clientCert, p.clientKey = leaf(t, dir, "client", caCert, caKey, x509.ExtKeyUsageClientAuth)
	return p
}

func selfSignedCA(t *testing.T) (*ecdsa.PrivateKey, *x509.Certificate, []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "edgespool test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return key, cert, der
}

func leaf(t *testing.T, dir, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, usage x509.ExtKeyUsage) (string, string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	cert, keyFile := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	writePEM(t, cert, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", keyDER)
	return cert, keyFile
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// memAppender keeps appended records.
type memAppender struct {
	mu   sync.Mutex
	recs []intake.Record
}

func (m *memAppender) Append(_ context.Context, recs []intake.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs = append(m.recs, recs...)
	return nil
}

func (m *memAppender) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.recs)
}

// tlsBrokerEnv starts Mosquitto with a second listener that requires TLS
// with a client certificate, and a password file for user "site".
func tlsBrokerEnv(t *testing.T) (*testenv.Broker, string, pki) {
	t.Helper()
	dir := t.TempDir()
	p := newPKI(t, dir)
	pw := filepath.Join(dir, "passwd")
	if out, err := exec.Command(testenv.Tool(t, "mosquitto_passwd"), "-b", "-c", pw, "site", "s3cret").CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v: %s", err, out)
	}
	port := testenv.FreePort(t)
	b := testenv.Mosquitto(t, testenv.BrokerConfig(
		"allow_anonymous false", "password_file "+pw,
		fmt.Sprintf("listener %d 127.0.0.1", port),
		"cafile "+p.ca, "certfile "+p.serverCert, "keyfile "+p.serverKey, "require_certificate true"))
	return b, fmt.Sprintf("tcp://127.0.0.1:%d", port), p
}

// TestMQTTOverMutualTLSWithPassword: with mqtt.tls set from files, a tcp://
// broker URL is upgraded to TLS, the client certificate and the password are
// presented, and readings arrive; a wrong password or a missing client
// certificate never connects.
func TestMQTTOverMutualTLSWithPassword(t *testing.T) {
	b, tlsURL, p := tlsBrokerEnv(t)
	cfg := config.Default()
	cfg.MQTT.Broker, cfg.MQTT.Username, cfg.MQTT.Password = tlsURL, "site", "s3cret"
	cfg.MQTT.ClientID, cfg.MQTT.ConnectTimeout = "agent-tls", 3*time.Second
	cfg.MQTT.TLS = config.TLS{Enabled: true, CAFile: p.ca, CertFile: p.clientCert, KeyFile: p.clientKey}

	app := &memAppender{}
	in := startTestIntake(t, cfg, app)
	testenv.WaitFor(t, 10*time.Second, in.Ready)
	pub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL).SetClientID("pub").
		SetUsername("site").SetPassword("s3cret"))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher: %v", tok.Error())
	}
	defer pub.Disconnect(100)
	payload := `{"generatorID":"generator1","lat":40.7,"lon":-74,"temperature":205,"power":1534,"load":62,"fuel":912,"seq":1}`
	pub.Publish("emergency_generator/generator1", 1, false, payload).Wait()
	testenv.WaitFor(t, 10*time.Second, func() bool { return app.len() == 1 })
	_ = in.Stop(context.Background())

	for name, mutate := range map[string]func(*config.Config){
		"wrong password":        func(c *config.Config) { c.MQTT.Password = "wrong" },
		"no client certificate": func(c *config.Config) { c.MQTT.TLS.CertFile, c.MQTT.TLS.KeyFile = "", "" },
	} {
		bad := cfg
		bad.MQTT.ClientID = "agent-bad"
		mutate(&bad)
		in := startTestIntake(t, bad, &memAppender{})
		time.Sleep(1500 * time.Millisecond)
		if in.Ready() {
			t.Errorf("%s: the intake connected", name)
		}
		_ = in.Stop(context.Background())
	}
}

func TestTLSBrokerScheme(t *testing.T) {
	cases := []struct {
		in      string
		enabled bool
		out     string
		secure  bool
	}{
		{"tcp://h:1883", false, "tcp://h:1883", false},
		{"tcp://h:8883", true, "ssl://h:8883", true},
		{"mqtt://h:8883", true, "ssl://h:8883", true},
		{"ws://h:9001", true, "wss://h:9001", true},
		{"mqtts://h:8883", false, "mqtts://h:8883", true},
		{"ssl://h:8883", false, "ssl://h:8883", true},
	}
	for _, c := range cases {
		out, secure := tlsBroker(c.in, c.enabled)
		if out != c.out || secure != c.secure {
			t.Errorf("tlsBroker(%q, %v) = %q, %v; want %q, %v", c.in, c.enabled, out, secure, c.out, c.secure)
		}
	}
}

func TestIntakeOptionsReportsBadTLSFiles(t *testing.T) {
	cfg := config.Default()
	cfg.MQTT.TLS = config.TLS{Enabled: true, CAFile: filepath.Join(t.TempDir(), "missing.pem")}
	a := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if _, err := a.intakeOptions(); err == nil {
		t.Fatal("a missing CA file was not reported")
	}
}

func startTestIntake(t *testing.T, cfg config.Config, app intake.Appender) *intake.Intake {
	t.Helper()
	a := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	o, err := a.intakeOptions()
	if err != nil {
		t.Fatal(err)
	}
	o.Registerer = nil
	in, err := intake.New(app, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = in.Stop(context.Background()) })
	return in
}
