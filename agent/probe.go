package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
	"github.com/segmentio/kafka-go"

	"github.com/edgespool/edgespool/agent/config"
)

// ProbeResult is the outcome of one connection check.
type ProbeResult struct {
	Name   string // mqtt, kafka, influxdb
	Target string // where, with any password redacted
	Detail string // what was checked, on success
	Err    error
	Hint   string // what to look at, on failure
}

// Probe connects to the MQTT broker and to each enabled sink with the
// configured credentials and TLS and reports each: MQTT CONNECT (under
// the client id with "-check" appended and a clean session, so that the
// agent's own persistent session is not taken over), Kafka metadata of
// the two topics, InfluxDB ping and an empty write to each bucket.
func Probe(ctx context.Context, cfg config.Config, timeout time.Duration) []ProbeResult {
	a := New(cfg, slog.New(slog.DiscardHandler))
	res := []ProbeResult{a.probeMQTT(timeout)}
	if cfg.Kafka.Enabled {
		res = append(res, probeKafka(ctx, cfg.Kafka, timeout))
	}
	if cfg.InfluxDB.Enabled {
		res = append(res, probeInflux(ctx, cfg.InfluxDB, timeout))
	}
	return res
}

func (a *Agent) probeMQTT(timeout time.Duration) ProbeResult {
	r := ProbeResult{Name: "mqtt", Target: config.RedactURL(a.cfg.MQTT.Broker)}
	o, err := a.intakeOptions()
	if err != nil {
		return r.fail(err)
	}
	co := mqtt.NewClientOptions().AddBroker(o.Broker).SetClientID(o.ClientID + "-check").
		SetUsername(o.Username).SetPassword(o.Password).SetTLSConfig(o.TLS).SetCleanSession(true).
		SetConnectTimeout(timeout).SetAutoReconnect(false).SetConnectRetry(false)
	c := mqtt.NewClient(co)
	tok := c.Connect()
	if !tok.WaitTimeout(timeout + time.Second) {
		return r.fail(fmt.Errorf("no CONNACK within %v", timeout))
	}
	if err := tok.Error(); err != nil {
		return r.fail(err)
	}
	c.Disconnect(100)
	r.Detail = "connected as " + o.ClientID + "-check"
	return r
}

func probeKafka(ctx context.Context, k config.Kafka, timeout time.Duration) ProbeResult {
	r := ProbeResult{Name: "kafka", Target: strings.Join(config.Config{Kafka: k}.Redacted().Kafka.Brokers, ",")}
	tc, err := tlsOptions(k.TLS).Config()
	if err != nil {
		return r.fail(err)
	}
	mech, err := kafkaSASL(k.SASL).KafkaMechanism()
	if err != nil {
		return r.fail(err)
	}
	client := &kafka.Client{Addr: kafka.TCP(k.Brokers...), Timeout: timeout,
		Transport: &kafka.Transport{ClientID: "edgespool-check", DialTimeout: timeout, TLS: tc, SASL: mech}}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{k.RawTopic, k.DownsampledTopic}})
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		r.Hint = "the broker hung up: it expects TLS (kafka.tls.enabled) or SASL, or refused the credentials (kafka.sasl)"
	}
	if err != nil {
		return r.fail(err)
	}
	for _, t := range md.Topics {
		if t.Error != nil {
			r.Hint = "create the topic (the agent does not create topics) or fix kafka.raw_topic / kafka.downsampled_topic"
			r.Err = fmt.Errorf("topic %s: %w", t.Name, t.Error)
			return r
		}
	}
	r.Detail = fmt.Sprintf("%d brokers, topics %s and %s exist", len(md.Brokers), k.RawTopic, k.DownsampledTopic)
	return r
}

func probeInflux(ctx context.Context, i config.InfluxDB, timeout time.Duration) ProbeResult {
	r := ProbeResult{Name: "influxdb", Target: config.RedactURL(i.URL)}
	tc, err := tlsOptions(i.TLS).Config()
	if err != nil {
		return r.fail(err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	client := &http.Client{Transport: tr, Timeout: timeout}
	defer tr.CloseIdleConnections()
	base := strings.TrimSuffix(i.URL, "/")
	if err := influxCall(ctx, client, http.MethodGet, base+"/ping", ""); err != nil {
		return r.fail(err)
	}
	for _, b := range []string{i.RawBucket, i.DownsampledBucket} {
		q := url.Values{"org": {i.Org}, "bucket": {b}, "precision": {"ns"}}
		if err := influxCall(ctx, client, http.MethodPost, base+"/api/v2/write?"+q.Encode(), i.Token); err != nil {
			r = r.fail(fmt.Errorf("write to bucket %s: %w", b, err))
			return r
		}
	}
	r.Detail = fmt.Sprintf("ping ok, buckets %s and %s writable", i.RawBucket, i.DownsampledBucket)
	return r
}

// httpStatusError is a non-2xx answer.
type httpStatusError struct {
	code int
	body string
}

func (e *httpStatusError) Error() string {
	return fmt.Sprintf("HTTP %d %s", e.code, strings.TrimSpace(e.body))
}

func influxCall(ctx context.Context, c *http.Client, method, u, token string) error {
	req, err := http.NewRequestWithContext(ctx, method, u, http.NoBody)
	if err != nil {
		return errors.New("bad URL")
	}
	if token != "" {
		req.Header.Set("Authorization", "Token "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return &httpStatusError{code: resp.StatusCode, body: string(body)}
	}
	return nil
}

// fail sets err and a hint for it.
func (r ProbeResult) fail(err error) ProbeResult {
	r.Err = err
	if r.Hint == "" {
		r.Hint = hint(r.Name, err)
	}
	return r
}

// hint suggests what to look at for a failed check.
func hint(name string, err error) string {
	var (
		unknownCA  x509.UnknownAuthorityError
		hostname   x509.HostnameError
		recordErr  tls.RecordHeaderError
		dnsErr     *net.DNSError
		statusErr  *httpStatusError
		kafkaErr   kafka.Error
		netErr     net.Error
		certVerify *tls.CertificateVerificationError
	)
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "nothing listens there: check the host and port, and that the server is running"
	case errors.As(err, &dnsErr):
		return "the host name does not resolve: check the host"
	case errors.As(err, &unknownCA), errors.As(err, &certVerify):
		return "the server's certificate is not trusted: check " + name + ".tls.ca_file"
	case errors.As(err, &hostname):
		return "the certificate is for another name: check the host or " + name + ".tls.server_name"
	case errors.As(err, &recordErr):
		return "the server does not speak TLS there: check the scheme/port or " + name + ".tls.enabled"
	case errors.Is(err, packets.ErrorRefusedNotAuthorised), errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword):
		return "the broker refused the credentials: check mqtt.username and mqtt.password"
	case errors.As(err, &kafkaErr) && (kafkaErr == kafka.SASLAuthenticationFailed || kafkaErr == kafka.IllegalSASLState):
		return "the brokers refused the credentials: check kafka.sasl"
	case errors.As(err, &statusErr):
		return influxHint(statusErr.code)
	case errors.As(err, &netErr) && netErr.Timeout(), errors.Is(err, context.DeadlineExceeded):
		return "no answer in time: a firewall, a wrong port, or TLS expected but not configured"
	}
	return ""
}

func influxHint(code int) string {
	switch code {
	case http.StatusUnauthorized, http.StatusForbidden:
		return "the server refused the token: check influxdb.token (1.8: user:password) and its write permission"
	case http.StatusNotFound:
		return "the bucket (1.8: database) does not exist: create it or fix influxdb.raw_bucket / downsampled_bucket / org"
	}
	return ""
}
