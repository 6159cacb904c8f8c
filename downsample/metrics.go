package downsample

import (
	"fmt"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the Engine's Prometheus collectors, all prefixed
// edgespool_downsample_.
type metrics struct {
	readings      prometheus.Counter
	late          prometheus.Counter
	badTime       prometheus.Counter
	corrupt       prometheus.Counter
	skipped       prometheus.Counter
	windows       prometheus.Counter
	alarms        *prometheus.CounterVec
	publishErrors prometheus.Counter
	superseded    prometheus.Counter
	unpublished   prometheus.Counter
	commits       prometheus.Counter
	errors        *prometheus.CounterVec
	stateResets   prometheus.Counter
	openWindows   prometheus.Gauge
	generators    prometheus.Gauge
	position      prometheus.Gauge
	cursor        prometheus.Gauge
}

// retryOps are the values of the "op" label of spool_errors_total.
var retryOps = []string{"step", "cursor"}

// alarmLabels are the alarm labels o can produce, for the "label" label.
func alarmLabels(o Options) []string {
	labels := []string{o.DefaultLabel}
	for _, r := range o.Rules {
		if !slices.Contains(labels, r.Label) {
			labels = append(labels, r.Label)
		}
	}
	return labels
}

// newMetrics creates the metrics, every labelled series at 0 (labels are
// the alarm labels the rules can produce), and registers them with reg
// unless it is nil.
func newMetrics(reg prometheus.Registerer, labels []string) (*metrics, error) {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "edgespool_downsample_" + name, Help: help})
	}
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: "edgespool_downsample_" + name, Help: help})
	}
	m := &metrics{
		readings: c("readings_total", "Raw readings processed (each counted once, also across restarts)."),
		late:     c("late_readings_total", "Readings whose window had already closed; not emitted, window not reopened."),
		badTime:  c("bad_time_readings_total", "Readings ignored because their event time is too far in the future or out of range."),
		corrupt:  c("corrupt_records_total", "Raw records that could not be decoded; skipped."),
		skipped:  c("skipped_records_total", "Raw records dropped or skipped by the spool before the engine read them."),
		windows:  c("windows_emitted_total", "Downsampled points (one per generator and window) committed to the spool."),
		alarms: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "edgespool_downsample_alarms_total",
			Help: "Alarm state changes per generator (and the first state after start), by new label."}, []string{"label"}),
		publishErrors: c("alarm_publish_errors_total", "Failed local alarm publications (retried while not superseded)."),
		superseded:    c("alarm_superseded_total", "Alarms replaced by a newer state of the same generator before being published."),
		unpublished:   c("alarm_unpublished_total", "Alarms still unpublished when the engine stopped; published again with the generator's next window."),
		commits:       c("commits_total", "Spool transactions that appended points and/or advanced the cursor."),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "edgespool_downsample_spool_errors_total",
			Help: "Failed spool operations, by operation (step: read, process and commit; cursor: recovery)."}, []string{"op"}),
		stateResets: c("state_resets_total", "Undecodable cursor state discarded at recovery (windows may be emitted again)."),
		openWindows: g("open_windows", "Windows holding a reading and not yet closed."),
		generators:  g("generators", "Generators whose state is kept."),
		position:    g("position", "Last raw sequence number processed."),
		cursor:      g("cursor", "Durable cursor on the raw stream (records after it are replayed at restart)."),
	}
	for _, l := range labels {
		m.alarms.WithLabelValues(l)
	}
	for _, op := range retryOps {
		m.errors.WithLabelValues(op)
	}
	return m, m.register(reg)
}

func (m *metrics) register(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{m.readings, m.late, m.badTime, m.corrupt, m.skipped, m.windows,
		m.alarms, m.publishErrors, m.superseded, m.unpublished, m.commits, m.errors, m.stateResets, m.openWindows,
		m.generators, m.position, m.cursor} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("downsample metrics: %w", err)
		}
	}
	return nil
}
