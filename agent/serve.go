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

// brokerInflight bounds the messages the intake holds in broker mode,
// across every device connection; each connection's own window
// (broker.receive_maximum) bounds what one device holds in it.
const brokerInflight = 4096

// brokerStage (broker mode) prepares the local intake and the embedded
// broker that feeds it: the retained messages are restored and the
// listeners bound, but no device is accepted before listenStage. Its
// inline client carries the alarms of the downsample stage. At stop, after
// the intake's last commit and the downsample's last alarms, it writes the
// last PUBACKs, disconnects the devices and saves the retained messages.
func (a *Agent) brokerStage() ([]named, error) {
	o, err := a.intakeOptions()
	if err != nil {
		return nil, err
	}
	o.MaxInflight = max(o.CommitMaxRecords, brokerInflight)
	bo, err := brokerOptions(a.cfg)
	if err != nil {
		return nil, err
	}
	bo.Logger, bo.Registerer = a.log.With("component", "broker"), a.reg
	in := intake.NewLocal(a.sp, o)
	b, err := broker.New(in, bo)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.in, a.broker = in, b
	a.mu.Unlock()
	return []named{{"broker", RunFunc(func(ctx context.Context) error {
		<-ctx.Done()
		err := b.Close()
		in.Close()
		return err
	})}}, nil
}

// listenStage (broker mode) starts accepting devices, once the intake that
// commits their PUBLISHes runs. At stop, before the intake drains, the
// broker stops accepting connections and PUBLISHes (a device publishes
// what was not acknowledged again after it reconnects).
func (a *Agent) listenStage() ([]named, error) {
	b := a.broker
	if err := b.Start(context.Background()); err != nil { // reloads the users file until Close
		return nil, err
	}
	return []named{{"broker listeners", RunFunc(func(ctx context.Context) error {
		<-ctx.Done()
		b.StopAccepting()
		return nil
	})}}, nil
}

// logRunning logs the start, with the mode's source of readings.
func (a *Agent) logRunning() {
	if a.cfg.Broker.Enabled() {
		a.log.Info("edgespool running", "spool", a.cfg.Spool.Path, "listeners", a.broker.Addrs(),
			"sinks", len(a.enabledSinks()))
		return
	}
	a.log.Info("edgespool running", "spool", a.cfg.Spool.Path, "broker", config.RedactURL(a.cfg.MQTT.Broker),
		"sinks", len(a.enabledSinks()))
}

// brokerBus carries the alarms in-process through the embedded broker: an
// inline subscription reads each one back, which proves the broker routed
// it to its subscribers and its retained store.
type brokerBus struct{ b *broker.Broker }

func (p brokerBus) watch(_ context.Context, topic string, echo func([]byte)) (func(), error) {
	stop, err := p.b.Watch(topic, echo)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrAlarmUnconfirmed, err)
	}
	return stop, nil
}

func (p brokerBus) publish(_ context.Context, topic string, payload []byte, retain bool) error {
	return p.b.Publish(topic, payload, retain)
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
