package intake

import (
	"context"
	"crypto/tls"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgespool/edgespool/agent/clock"
	"github.com/edgespool/edgespool/spool"
)

// Record is a spool record (the spool assigns Seq).
type Record = spool.Record

// Appender is the part of the spool the intake writes to. Append must return
// only once the records are durable.
type Appender interface {
	Append(ctx context.Context, recs []Record) error
}

// Options configure an Intake. The zero value of every field but Broker
// means its default.
type Options struct {
	Broker   string // e.g. tcp://127.0.0.1:1883
	ClientID string // stable across restarts (persistent session); default "edgespool"
	Username string
	Password string
	TLS      *tls.Config
	Topics   []string // default emergency_generator/+

	KeepAlive      time.Duration // default 30s
	ConnectTimeout time.Duration // default 10s
	ReconnectMin   time.Duration // first retry delay, default 500ms
	ReconnectMax   time.Duration // backoff cap, default 30s

	// MaxInflight bounds the messages received but not yet acknowledged;
	// the handler blocks beyond it (backpressure). Default 1000.
	MaxInflight int
	// CommitMaxRecords bounds the messages per spool Append. Default 4096.
	CommitMaxRecords int

	// DisableDirectAck acknowledges each message through paho's own Ack
	// instead of writing the PUBACKs of a commit in one write (package
	// pahoack), for a paho version whose behaviour pahoack's tests no
	// longer confirm.
	DisableDirectAck bool

	Decoder Decoder
	// Ignore, when set, drops matching topics (acknowledged, counted),
	// e.g. the agent's own alarm topic under a wide subscription.
	Ignore func(topic string) bool

	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Clock is the time of state changes and rate limits and waits the
	// retry delays (default the real clock).
	Clock clock.Clock
}

func (o Options) withDefaults() Options {
	if o.ClientID == "" {
		o.ClientID = "edgespool"
	}
	if len(o.Topics) == 0 {
		o.Topics = []string{"emergency_generator/+"}
	}
	setDefault(&o.KeepAlive, 30*time.Second)
	setDefault(&o.ConnectTimeout, 10*time.Second)
	setDefault(&o.ReconnectMin, 500*time.Millisecond)
	setDefault(&o.ReconnectMax, 30*time.Second)
	if o.MaxInflight <= 0 {
		o.MaxInflight = 1000
	}
	if o.CommitMaxRecords <= 0 {
		o.CommitMaxRecords = 4096
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Clock = clock.Or(o.Clock)
	return o
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}
