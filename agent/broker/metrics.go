package broker

import (
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Limits, the values of the "limit" label of edgespool_broker_limited_total.
const (
	LimitConnections = "connections" // a CONNECT beyond max_connections, refused
	LimitPacketSize  = "packet_size" // a packet over max_packet_size: connection closed
	LimitWindow      = "window"      // a PUBLISH waited for the connection's in-flight window
	LimitRate        = "rate"        // a PUBLISH delayed by the connection's rate cap
	LimitAuth        = "auth"        // a CONNECT with unknown user or wrong password, refused
	LimitACL         = "acl"         // a PUBLISH or SUBSCRIBE outside the user's topics, refused
)

// Limits lists every limit: each has its series of edgespool_broker_limited_total from the start.
var Limits = []string{LimitConnections, LimitPacketSize, LimitWindow, LimitRate, LimitAuth, LimitACL}

type metrics struct {
	connections  prometheus.Gauge
	connects     prometheus.Counter
	messages     *prometheus.CounterVec
	byQoS        [2]prometheus.Counter
	limited      map[string]prometheus.Counter
	ackSeconds   prometheus.Histogram
	ackErrors    prometheus.Counter
	retained     prometheus.Gauge
	usersReloads map[bool]prometheus.Counter // by success
}

func newMetrics(reg prometheus.Registerer) *metrics {
	limited := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "edgespool_broker_limited_total",
		Help: "Events where a broker limit applied, by limit (connections, packet_size, window, rate, auth, acl)."},
		[]string{"limit"})
	m := &metrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{Name: "edgespool_broker_connections",
			Help: "Device connections open on the embedded broker."}),
		connects: prometheus.NewCounter(prometheus.CounterOpts{Name: "edgespool_broker_connects_total",
			Help: "Connections accepted (authenticated) by the embedded broker."}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "edgespool_broker_publish_total",
			Help: "PUBLISH packets received from devices, by QoS (QoS 0 is stored but never acknowledged)."},
			[]string{"qos"}),
		limited: map[string]prometheus.Counter{},
		ackSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "edgespool_broker_puback_seconds",
			Help:    "Time from a PUBLISH's arrival to its PUBACK's write (after the spool commit).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		ackErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "edgespool_broker_puback_errors_total",
			Help: "PUBACK writes that failed (connection gone): the device publishes those messages again."}),
		retained: prometheus.NewGauge(prometheus.GaugeOpts{Name: "edgespool_broker_retained_messages",
			Help: "Retained messages kept by the embedded broker."}),
	}
	reloads := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "edgespool_broker_users_reloads_total",
		Help: "Reloads of the users file after start, by result (ok, error: the previous users stay)."},
		[]string{"result"})
	m.usersReloads = map[bool]prometheus.Counter{true: reloads.WithLabelValues("ok"),
		false: reloads.WithLabelValues("error")}
	for _, l := range Limits {
		m.limited[l] = limited.WithLabelValues(l)
	}
	m.byQoS = [2]prometheus.Counter{m.messages.WithLabelValues("0"), m.messages.WithLabelValues("1")}
	if reg != nil {
		reg.MustRegister(m.connections, m.connects, m.messages, limited, m.ackSeconds, m.ackErrors,
			m.retained, reloads)
	}
	return m
}

// limitLog logs each kind of limit event at most once per interval, with
// the count of events since the last line.
type limitLog struct {
	log      *slog.Logger
	interval time.Duration
	mu       sync.Mutex
	last     map[string]time.Time
	count    map[string]int
}

func newLimitLog(log *slog.Logger, interval time.Duration) *limitLog {
	return &limitLog{log: log, interval: interval, last: map[string]time.Time{}, count: map[string]int{}}
}

// note counts one event of limit and logs it unless one was logged within
// the interval.
func (l *limitLog) note(limit, msg string, args ...any) {
	l.mu.Lock()
	l.count[limit]++
	now := time.Now()
	if now.Sub(l.last[limit]) < l.interval {
		l.mu.Unlock()
		return
	}
	n := l.count[limit]
	l.count[limit], l.last[limit] = 0, now
	l.mu.Unlock()
	l.log.Warn(msg, append(args, "limit", limit, "events_since_last_log", n)...)
}
