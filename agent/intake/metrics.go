package intake

import (
	"github.com/edgespool/edgespool/agent/model"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics of the intake; names are documented in the agent README.
type metrics struct {
	messages      prometheus.Counter
	qos0          prometheus.Counter
	readings      prometheus.Counter
	rejected      map[string]prometheus.Counter
	duplicates    prometheus.Counter
	resent        prometheus.Counter
	ignored       prometheus.Counter
	unknownFields prometheus.Counter
	seqGaps       prometheus.Counter
	seqLate       prometheus.Counter
	seqRestarts   prometheus.Counter
	commits       prometheus.Counter
	commitErrors  prometheus.Counter
	commitSize    prometheus.Histogram
	commitSeconds prometheus.Histogram
	delay         prometheus.Histogram
	inflight      prometheus.Gauge
	connected     prometheus.Gauge
	subscribed    prometheus.Gauge
	connLost      prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "edgespool_" + name, Help: help})
	}
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: "edgespool_" + name, Help: help})
	}
	rejected := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "edgespool_intake_rejected_total",
		Help: "MQTT messages written to the dead-letter stream, by reason."}, []string{"reason"})
	m := &metrics{
		messages: c("intake_messages_total", "MQTT messages received."),
		qos0: c("intake_qos0_messages_total", "MQTT messages the broker delivered at QoS 0: never redelivered, so lost if the agent stops before committing them "+
			"(publish at QoS 1, or set upgrade_outgoing_qos true on Mosquitto)."),
		readings:   c("intake_readings_total", "Readings committed to the raw stream."),
		rejected:   map[string]prometheus.Counter{},
		duplicates: c("intake_duplicates_total", "Redelivered readings already in the spool, acknowledged and not stored again."),
		resent: c("intake_duplicates_unflagged_total", "Of intake_duplicates_total: copies of stored readings that came without the MQTT DUP flag "+
			"(a publisher resending after a reconnect)."),
		ignored:       c("intake_ignored_total", "MQTT messages on ignored topics (the agent's own alarms)."),
		unknownFields: c("intake_unknown_fields_total", "Accepted messages that carried fields the agent ignores."),
		seqGaps:       c("intake_seq_gap_readings_total", "Sequence numbers skipped by a generator: readings lost before the agent (publisher or broker drops)."),
		seqLate:       c("intake_seq_out_of_order_total", "Readings whose seq was below the generator's highest seen."),
		seqRestarts:   c("intake_seq_restarts_total", "Generators that restarted their sequence at 1."),
		commits:       c("intake_commits_total", "Spool appends by the intake."),
		commitErrors:  c("intake_commit_errors_total", "Failed spool appends (retried; nothing is acknowledged meanwhile)."),
		commitSize: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "edgespool_intake_commit_messages",
			Help: "MQTT messages per spool append.", Buckets: prometheus.ExponentialBuckets(1, 4, 8)}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "edgespool_intake_commit_seconds",
			Help: "Duration of spool appends by the intake.", Buckets: prometheus.ExponentialBuckets(0.0001, 4, 9)}),
		delay: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "edgespool_intake_delay_seconds",
			Help:    "Age of each reading when the intake received it: receipt time minus the reading's event time (0 for payloads without a time).",
			Buckets: model.DelayBuckets}),
		inflight:   g("intake_inflight_messages", "MQTT messages received and not yet acknowledged."),
		connected:  g("mqtt_connected", "1 while connected to the MQTT broker."),
		subscribed: g("mqtt_subscribed", "1 while every topic filter is subscribed."),
		connLost:   c("mqtt_connection_lost_total", "MQTT connections lost."),
	}
	for _, r := range Reasons {
		m.rejected[r] = rejected.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.messages, m.qos0, m.readings, rejected, m.duplicates, m.resent, m.ignored, m.unknownFields,
			m.seqGaps, m.seqLate, m.seqRestarts, m.commits, m.commitErrors, m.commitSize,
			m.commitSeconds, m.delay, m.inflight, m.connected, m.subscribed, m.connLost)
	}
	return m
}
