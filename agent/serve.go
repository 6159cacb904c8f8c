package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"

	"github.com/edgespool/edgespool/agent/broker"
	"github.com/edgespool/edgespool/agent/config"
	"github.com/edgespool/edgespool/agent/intake"
)

// newIntake builds the intake of the configured mode: a subscription to
// the site's broker, or (broker.listen) a local intake fed by the embedded
// broker, which is created here and listens from startBroker on.
func (a *Agent) newIntake() (*intake.Intake, error) {
	o, err := a.intakeOptions()
	if err != nil {
		return nil, err
	}
	if !a.cfg.Broker.Enabled() {
		return intake.New(a.sp, o)
	}
	// The queue is shared by every device connection; each connection's own
	// window (broker.receive_maximum) bounds what one device holds in it.
	o.MaxInflight = max(o.CommitMaxRecords, 4096)
	in := intake.NewLocal(a.sp, o)
	bo, err := brokerOptions(a.cfg)
	if err != nil {
		return nil, err
	}
	bo.Logger, bo.Registerer = a.log.With("component", "broker"), a.reg
	if a.broker, err = broker.New(in, bo); err != nil {
		return nil, err
	}
	return in, nil
}

// startBroker starts listening (broker mode only).
func (a *Agent) startBroker(ctx context.Context) error {
	if a.broker == nil {
		return nil
	}
	return a.broker.Start(ctx)
}

// closeBroker writes the last acknowledgements and disconnects the devices.
func (a *Agent) closeBroker() error {
	if a.broker == nil {
		return nil
	}
	err := a.broker.Close()
	a.broker = nil
	return err
}

// intakeReady: subscribed to the site's broker, or listening for devices.
func (a *Agent) intakeReady() bool {
	return a.in != nil && a.in.Ready() && (a.broker == nil || a.broker.Listening())
}

// alarmSink publishes the alarms: in-process through the embedded broker,
// or over the intake's MQTT session.
func (a *Agent) alarmSink() alarmPublishFunc {
	if b := a.broker; b != nil {
		return func(_ context.Context, topic string, payload []byte, retain bool) error {
			return b.Publish(topic, payload, retain)
		}
	}
	return pahoPublish(a.in.Client())
}

// brokerOptions maps the broker section to broker.Options.
func brokerOptions(cfg config.Config) (broker.Options, error) {
	b := cfg.Broker
	o := broker.Options{UsersFile: b.Auth.UsersFile, AllowAnonymous: b.Auth.AllowAnonymous,
		Publish: b.Auth.Publish, Subscribe: b.Auth.Subscribe, MaxConnections: b.MaxConnections,
		MaxPacketSize: int(b.MaxPacketSize), ReceiveMaximum: b.ReceiveMaximum, MaxRate: b.MaxRate,
		RateBurst: b.RateBurst, RetainedFile: b.RetainedFile, Forward: b.Forward}
	if o.RetainedFile == "" {
		o.RetainedFile = cfg.Spool.Path + ".retained"
	}
	secure := false
	for _, l := range b.Listen {
		kind, err := config.ParseListen(l)
		if err != nil {
			return o, fmt.Errorf("broker.listen: %w", err)
		}
		u, _ := url.Parse(l)
		o.Listeners = append(o.Listeners, broker.Listener{Kind: kind, Address: u.Host})
		secure = secure || kind == "tls" || kind == "wss"
	}
	if !secure {
		return o, nil
	}
	tc, err := brokerTLS(b.TLS)
	if err != nil {
		return o, fmt.Errorf("broker.tls: %w", err)
	}
	o.TLS = tc
	return o, nil
}

// brokerTLS is the server TLS configuration: certificate, and client
// certificates verified when a client CA is set (required with
// require_client_cert).
func brokerTLS(t config.BrokerTLS) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("load certificate: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if t.ClientCAFile == "" {
		return tc, nil
	}
	pem, err := os.ReadFile(t.ClientCAFile)
	if err != nil {
		return nil, fmt.Errorf("read client CA: %w", err)
	}
	tc.ClientCAs = x509.NewCertPool()
	if !tc.ClientCAs.AppendCertsFromPEM(pem) {
		return nil, errors.New("client_ca_file holds no PEM certificate")
	}
	tc.ClientAuth = tls.VerifyClientCertIfGiven
	if t.RequireClientCert {
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}
