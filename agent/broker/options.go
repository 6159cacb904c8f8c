package broker

import (
	"crypto/tls"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgespool/edgespool/agent/intake"
)

// Sink is where PUBLISHes go: the local intake (intake.NewLocal). Submit
// blocks while the intake's queue is full and returns false when it is
// stopping; each message's Ack (or AckRejected) follows its commit.
type Sink interface {
	Submit(msg intake.Message) bool
}

// Listener is one network listener.
type Listener struct {
	Kind    string // tcp, tls, ws or wss
	Address string // host:port
}

// Options configure a Broker. The zero value of every field but Listeners
// and Sink means its default; authentication is required unless
// AllowAnonymous or UsersFile is set.
type Options struct {
	Listeners []Listener
	TLS       *tls.Config // for tls and wss listeners

	UsersFile      string
	AllowAnonymous bool
	// Publish and Subscribe are the topic filters of users without rules
	// of their own and of anonymous clients; {username} stands for the user.
	// nil: emergency_generator/+ and emergency_generator/#; empty: none.
	Publish, Subscribe []string

	MaxConnections int     // default 1000
	MaxPacketSize  int     // bytes; default 64 KiB
	ReceiveMaximum int     // per-connection in-flight window; default 1000
	MaxRate        float64 // messages a second per connection; 0: no cap
	RateBurst      int     // default 1000

	RetainedFile string // retained messages across restarts; "" keeps them in memory only
	// Forward republishes every committed message to local subscribers.
	Forward bool

	// UsersReload is how often the users file is checked for changes
	// (default 5s); SIGHUP reloads it at once.
	UsersReload time.Duration
	// RetainedFlush is how long a retained change may wait before the file
	// is rewritten (default 1s).
	RetainedFlush time.Duration

	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
}

func (o Options) withDefaults() Options {
	if o.Publish == nil {
		o.Publish = []string{"emergency_generator/+"}
	}
	if o.Subscribe == nil {
		o.Subscribe = []string{"emergency_generator/#"}
	}
	if o.MaxConnections <= 0 {
		o.MaxConnections = 1000
	}
	if o.MaxPacketSize <= 0 {
		o.MaxPacketSize = 64 << 10
	}
	if o.ReceiveMaximum <= 0 {
		o.ReceiveMaximum = 1000
	}
	o.ReceiveMaximum = min(o.ReceiveMaximum, 65535)
	if o.RateBurst <= 0 {
		o.RateBurst = 1000
	}
	if o.UsersReload <= 0 {
		o.UsersReload = 5 * time.Second
	}
	if o.RetainedFlush <= 0 {
		o.RetainedFlush = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}
