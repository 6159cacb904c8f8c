package uplink

import (
	"sync"

	"github.com/edgespool/edgespool/agent/model"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the uplink's Prometheus metrics, shared by every forwarder
// and link. Create one with NewMetrics and pass it in the Options.
type Metrics struct {
	sentRecords *prometheus.CounterVec // sink, stream
	sentBytes   *prometheus.CounterVec // sink, stream
	batches     *prometheus.CounterVec // sink, stream
	errors      *prometheus.CounterVec // sink, stream, class
	deadLetters *prometheus.CounterVec // sink, stream
	dropped     *prometheus.CounterVec // sink, stream
	lagRecords  *prometheus.GaugeVec   // sink, stream
	lagSeconds  *prometheus.GaugeVec   // sink, stream
	sendSeconds *prometheus.HistogramVec
	delay       *prometheus.HistogramVec // sink, stream
	linkState   *prometheus.GaugeVec     // sink, state
	probes      *prometheus.CounterVec   // sink, result
	skipped     *prometheus.CounterVec   // sink, stream
	unchecked   *prometheus.CounterVec   // sink, stream

	mu      sync.Mutex
	running map[*Forwarder]struct{} // forwarders whose lag a scrape refreshes
}

// NewMetrics creates the metrics and registers them with reg (nil: not
// registered, for tests and benchmarks).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	ss := []string{"sink", "stream"}
	m := &Metrics{
		sentRecords: counter("sent_records_total", "Records the sink confirmed.", ss...),
		sentBytes:   counter("sent_bytes_total", "Spooled payload bytes of the records the sink confirmed.", ss...),
		batches:     counter("batches_total", "Batches the sink confirmed.", ss...),
		errors:      counter("errors_total", "Failed sends by error class.", "sink", "stream", "class"),
		deadLetters: counter("dead_letters_total", "Records the sink rejected permanently, moved to the dead-letter stream.", ss...),
		dropped:     counter("dropped_total", "Records the spool dropped or skipped before this forwarder sent them.", ss...),
		lagRecords:  gauge("lag_records", "Records spooled but not yet confirmed by the sink.", ss...),
		lagSeconds:  gauge("lag_seconds", "Event-time age of the oldest record not yet confirmed, 0 when caught up.", ss...),
		sendSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "edgespool_uplink_send_seconds",
			Help:    "Duration of one Send to the sink, failed or not.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
		}, ss),
		delay: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "edgespool_uplink_delivery_delay_seconds",
			Help:    "Age of each record when the sink confirmed it: confirmation time minus the reading's event time.",
			Buckets: model.DelayBuckets,
		}, ss),
		linkState: gauge("link_state", "1 for the link's current state (up, retrying, down), 0 for the other states; one link per sink.",
			"sink", "state"),
		probes: counter("probes_total", "TCP connection probes of a sink that could not be reached, by result.", "sink", "result"),
		skipped: counter("already_delivered_total", "Records found in the sink on start, sent before a crash "+
			"after the last durable cursor, and not sent again.", ss...),
		unchecked: counter("unchecked_resends_total", "Records after the durable cursor sent again on start "+
			"without the check of which already reached the sink (it failed): each may be a duplicate.", ss...),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.sentRecords, m.sentBytes, m.batches, m.errors,
			m.deadLetters, m.dropped, lagCollector{m}, m.sendSeconds, m.delay, m.linkState, m.probes, m.skipped, m.unchecked} {
			reg.MustRegister(c)
		}
	}
	return m
}

// errorsFor returns the error counters of one forwarder (labels sink and
// stream), curried by class, with every class at 0.
func (m *Metrics) errorsFor(l prometheus.Labels) *prometheus.CounterVec {
	v := m.errors.MustCurryWith(l)
	for c := range Class(len(classNames)) {
		v.WithLabelValues(c.String())
	}
	return v
}

// initProbes creates sink's probe counters at 0, one per result.
func (m *Metrics) initProbes(sink string) {
	for _, ok := range []bool{true, false} {
		m.probes.WithLabelValues(sink, probeResult(ok))
	}
}

// setLinkState sets sink's link_state series: 1 for s, 0 for the others.
func (m *Metrics) setLinkState(sink string, s LinkState) {
	for st := range LinkState(len(linkStateNames)) {
		v := 0.0
		if st == s {
			v = 1
		}
		m.linkState.WithLabelValues(sink, st.String()).Set(v)
	}
}

func counter(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "edgespool_uplink_" + name, Help: help}, labels)
}

func gauge(name, help string, labels ...string) *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "edgespool_uplink_" + name, Help: help}, labels)
}
