package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Errors of New and Close.
var (
	ErrNoListeners = errors.New("broker: no listener")
	ErrClosed      = errors.New("broker: already closed")
)

// Broker is the embedded MQTT broker. See the package doc.
type Broker struct {
	o        Options
	sink     Sink
	log      *slog.Logger
	m        *metrics
	server   *mqtt.Server
	retained *retainedHook
	lim      *limitLog

	users     atomic.Pointer[users]
	usersStat os.FileInfo
	conns     sync.Map // *mqtt.Client → *conn
	open      atomic.Int64
	started   atomic.Bool

	watchID atomic.Int64 // inline subscription identifiers of Watch

	draining  chan struct{} // closed by StopAccepting (or Close)
	drainOnce sync.Once
	stop      chan struct{}
	stopOnce  sync.Once
	wg        sync.WaitGroup
}

// New prepares a broker that hands every PUBLISH to sink; nothing listens
// before Start.
func New(sink Sink, o Options) (*Broker, error) {
	if len(o.Listeners) == 0 {
		return nil, ErrNoListeners
	}
	o = o.withDefaults()
	b := &Broker{o: o, sink: sink, log: o.Logger, m: newMetrics(o.Registerer), stop: make(chan struct{}),
		draining: make(chan struct{})}
	b.lim = newLimitLog(b.log, 10*time.Second)
	if err := b.loadUsers(); err != nil {
		return nil, err
	}
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumQos = 1 // a QoS 2 PUBLISH is taken and acknowledged as QoS 1
	caps.MaximumPacketSize = uint32(o.MaxPacketSize)
	caps.ReceiveMaximum = uint16(o.ReceiveMaximum)
	b.server = mqtt.New(&mqtt.Options{Capabilities: caps, InlineClient: true,
		Logger: b.log.With("library", "mochi"), SysTopicResendInterval: 60})
	if err := b.setup(); err != nil {
		_ = b.server.Close() // unbinds the listeners bound so far
		return nil, err
	}
	return b, nil
}

// setup adds the hooks, restores the retained messages and binds the
// listeners.
func (b *Broker) setup() error {
	if err := b.server.AddHook(&hook{b: b}, nil); err != nil {
		return fmt.Errorf("broker hook: %w", err)
	}
	if b.o.RetainedFile != "" {
		var err error
		if b.retained, err = newRetainedHook(b.o.RetainedFile, b.o.RetainedFlush, b.log, b.m); err != nil {
			return err
		}
		if err := b.server.AddHook(b.retained, nil); err != nil {
			return fmt.Errorf("retained hook: %w", err)
		}
		b.retained.restore(b.server.Topics)
	}
	for i, l := range b.o.Listeners {
		ln, err := b.listener(i, l)
		if err == nil {
			err = b.server.AddListener(ln)
		}
		if err != nil {
			return fmt.Errorf("broker listener %s://%s: %w", l.Kind, l.Address, err)
		}
	}
	return nil
}

func listenerID(i int, l Listener) string { return fmt.Sprintf("%s%d", l.Kind, i) }

// listener builds one listener. A TCP listener binds here; a websocket one
// binds in Start, so its address is tried here to fail early.
func (b *Broker) listener(i int, l Listener) (listeners.Listener, error) {
	cfg := listeners.Config{ID: listenerID(i, l), Address: l.Address}
	if l.Kind == "tls" || l.Kind == "wss" {
		cfg.TLSConfig = b.o.TLS
	}
	if l.Kind != "ws" && l.Kind != "wss" {
		return listeners.NewTCP(cfg), nil
	}
	ln, err := net.Listen("tcp", l.Address)
	if err != nil {
		return nil, err
	}
	ln.Close()
	return listeners.NewWebsocket(cfg), nil
}

// Start starts accepting devices on the listeners (bound by New), and
// reloads the users file until ctx ends or Close.
func (b *Broker) Start(ctx context.Context) error {
	if err := b.server.Serve(); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	b.started.Store(true)
	b.wg.Add(1)
	go b.reloadLoop(ctx)
	b.log.Info("embedded MQTT broker listening", "listeners", b.Addrs())
	return nil
}

// Addrs lists the bound addresses, e.g. tcp0 127.0.0.1:1883.
func (b *Broker) Addrs() map[string]string {
	out := map[string]string{}
	for i, l := range b.o.Listeners {
		if ln, ok := b.server.Listeners.Get(listenerID(i, l)); ok {
			out[ln.ID()] = l.Kind + "://" + ln.Address()
		}
	}
	return out
}

// Publish publishes from the broker itself (the alarms): in-process, no
// network, to the subscribers and the retained store. The subscribers'
// handlers of Watch run before it returns.
func (b *Broker) Publish(topic string, payload []byte, retain bool) error {
	return b.server.Publish(topic, payload, retain, 1)
}

// Watch calls fn with the payload of each message published on topic (the
// retained one at once) until the returned stop is called: an inline
// subscription, no network.
func (b *Broker) Watch(topic string, fn func(payload []byte)) (stop func(), err error) {
	id := int(b.watchID.Add(1))
	err = b.server.Subscribe(topic, id, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		fn(pk.Payload)
	})
	if err != nil {
		return nil, fmt.Errorf("broker watch %s: %w", topic, err)
	}
	return func() { _ = b.server.Unsubscribe(topic, id) }, nil
}

// StopAccepting closes the listeners and refuses further PUBLISHes (not
// acknowledged: the devices publish them again after they reconnect);
// the connections stay open for the acknowledgements of what the intake
// holds. Call it before the intake's Drain.
func (b *Broker) StopAccepting() {
	b.drainOnce.Do(func() {
		close(b.draining)
		for i, l := range b.o.Listeners {
			b.server.Listeners.Close(listenerID(i, l), func(string) {}) // clients: Close
		}
	})
}

func (b *Broker) isDraining() bool {
	select {
	case <-b.draining:
		return true
	default:
		return false
	}
}

// Close stops taking messages, writes the acknowledgements of what the
// intake committed, disconnects every client and saves the retained
// messages. Call it after the intake's Drain.
func (b *Broker) Close() error {
	err := ErrClosed
	b.stopOnce.Do(func() {
		b.StopAccepting()
		close(b.stop)
		b.wg.Wait()
		b.conns.Range(func(_, v any) bool {
			v.(*conn).flushPending()
			return true
		})
		for _, cl := range b.server.Clients.GetAll() {
			if !cl.Net.Inline {
				_ = b.server.DisconnectClient(cl, packets.ErrServerShuttingDown)
			}
		}
		err = b.server.Close()
		if b.retained != nil {
			err = errors.Join(err, b.retained.Stop())
		}
	})
	return err
}

// Status is the broker's state for /status.
type Status struct {
	Listeners   map[string]string `json:"listeners"`
	Connections int64             `json:"connections"`
	Retained    int               `json:"retained"` // kept across restarts (not $SYS)
}

// Status returns the live state.
func (b *Broker) Status() Status {
	st := Status{Listeners: b.Addrs(), Connections: b.open.Load()}
	if b.retained != nil {
		st.Retained = b.retained.count()
	}
	return st
}

func (b *Broker) conn(cl *mqtt.Client) *conn {
	v, ok := b.conns.Load(cl)
	if !ok {
		return nil
	}
	return v.(*conn)
}

// forward passes committed, accepted messages on to local subscribers (all
// of them with Forward, else only retained ones, to keep them retained).
func (b *Broker) forward(batch []*message) {
	for _, m := range batch {
		if m.code != 0 || !b.o.Forward && !m.retain {
			continue
		}
		if err := b.server.Publish(m.topic, m.payload, m.retain, m.qos); err != nil {
			b.log.Debug("forward to subscribers", "topic", m.topic, "err", err)
		}
	}
}

func (b *Broker) limited(limit, msg string, args ...any) {
	b.m.limited[limit].Inc()
	b.lim.note(limit, msg, args...)
}

// loadUsers (re)reads the users file; on error the previous users stay.
func (b *Broker) loadUsers() error {
	var f UsersFile
	var st os.FileInfo
	if b.o.UsersFile != "" {
		var err error
		if st, err = os.Stat(b.o.UsersFile); err == nil {
			var data []byte
			if data, err = os.ReadFile(b.o.UsersFile); err == nil {
				f, err = ParseUsers(data)
			}
		}
		if err != nil {
			return fmt.Errorf("broker: %w", err)
		}
	}
	b.users.Store(newUsers(f, b.o.Publish, b.o.Subscribe))
	b.usersStat = st
	return nil
}

// reloadLoop reloads the users file on SIGHUP and when it changes.
func (b *Broker) reloadLoop(ctx context.Context) {
	defer b.wg.Done()
	if b.o.UsersFile == "" {
		return
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	tick := time.NewTicker(b.o.UsersReload)
	defer tick.Stop()
	for {
		select {
		case <-hup:
		case <-tick.C:
			if !b.usersChanged() {
				continue
			}
		case <-ctx.Done():
			return
		case <-b.stop:
			return
		}
		err := b.loadUsers()
		b.m.usersReloads[err == nil].Inc()
		if err != nil {
			b.log.Error("users file not reloaded; the previous users stay", "err", err)
		} else {
			b.log.Info("users file reloaded", "path", b.o.UsersFile, "users", len(b.users.Load().byName))
		}
	}
}

func (b *Broker) usersChanged() bool {
	st, err := os.Stat(b.o.UsersFile)
	if err != nil || b.usersStat == nil {
		return err == nil
	}
	return !st.ModTime().Equal(b.usersStat.ModTime()) || st.Size() != b.usersStat.Size()
}

// Listening reports whether Start has run and neither StopAccepting nor
// Close has.
func (b *Broker) Listening() bool { return b.started.Load() && !b.isDraining() }
