package spool

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

const ns = "edgespool_spool_"

// metrics are the spool's Prometheus metrics. They always exist; they are
// registered only when Options.Registerer is set.
type metrics struct {
	reg        prometheus.Registerer
	collectors []prometheus.Collector

	appended      *prometheus.CounterVec
	appendedBytes *prometheus.CounterVec
	commits       prometheus.Counter
	commitErrors  prometheus.Counter
	fsyncs        prometheus.Counter
	commitSeconds prometheus.Histogram
	commitRecords prometheus.Histogram
	appendLatency prometheus.Histogram
	deleted       *prometheus.CounterVec
	dropped       *prometheus.CounterVec
	consDropped   *prometheus.CounterVec
	rejected      *prometheus.CounterVec
	corrupt       *prometheus.CounterVec
	corruptFiles  prometheus.Counter
	corruptPanics prometheus.Counter
	compactions   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, s *Spool) (*metrics, error) {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: ns + name, Help: help})
	}
	cv := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + name, Help: help}, labels)
	}
	h := func(name, help string, buckets []float64) prometheus.Histogram {
		return prometheus.NewHistogram(prometheus.HistogramOpts{Name: ns + name, Help: help, Buckets: buckets})
	}
	lat := prometheus.ExponentialBuckets(0.0001, 2, 16) // 0.1 ms .. 3.3 s
	m := &metrics{
		reg:           reg,
		appended:      cv("appended_records_total", "Records appended, by stream.", "stream"),
		appendedBytes: cv("appended_bytes_total", "Logical bytes appended, by stream.", "stream"),
		commits:       c("commits_total", "Committed group-commit transactions."),
		commitErrors:  c("commit_errors_total", "Transactions that failed and were rolled back."),
		fsyncs:        c("fsyncs_total", "fdatasync calls issued by commits (two per bbolt commit)."),
		commitSeconds: h("commit_duration_seconds", "Duration of one group commit, apply to fsync.", lat),
		commitRecords: h("commit_records", "Records appended per group commit.", prometheus.ExponentialBuckets(1, 4, 8)),
		appendLatency: h("append_duration_seconds", "Latency of Append calls, queueing included.", lat),
		deleted:       cv("deleted_records_total", "Records deleted after all consumers acknowledged them.", "stream"),
		dropped:       cv("dropped_records_total", "Records dropped by the byte or age cap.", "stream", "reason"),
		consDropped:   cv("consumer_dropped_records_total", "Records dropped before the consumer read them.", "consumer", "stream"),
		rejected:      cv("rejected_records_total", "Records refused with ErrFull (RejectNew policy).", "stream"),
		corrupt:       cv("corrupt_records_total", "Records lost to corruption (checksum or salvage).", "stream"),
		corruptFiles:  c("corrupt_files_total", "Spool files found damaged, moved aside and salvaged."),
		corruptPanics: c("damaged_transactions_total", "Transactions aborted by a panic or fault on damaged pages."),
		compactions:   cv("compactions_total", "File compactions, by trigger (auto, explicit, backstop).", "trigger"),
	}
	m.declare(s.opts.Consumers)
	m.collectors = []prometheus.Collector{m.appended, m.appendedBytes, m.commits, m.commitErrors,
		m.fsyncs, m.commitSeconds, m.commitRecords, m.appendLatency, m.deleted, m.dropped,
		m.consDropped, m.rejected, m.corrupt, m.corruptFiles, m.corruptPanics, m.compactions,
		&stateCollector{s: s}}
	if reg == nil {
		return m, nil
	}
	for i, col := range m.collectors {
		if err := reg.Register(col); err != nil {
			for _, done := range m.collectors[:i] {
				reg.Unregister(done)
			}
			return nil, err
		}
	}
	return m, nil
}

// compactTriggers are the values of the "trigger" label of compactions_total.
var compactTriggers = []string{"auto", "explicit", "backstop"}

// declare creates every labelled counter series known at Open at 0: per
// stream with consumers (streams without one appear with their first
// record), per consumer, per drop reason and per compaction trigger, so
// that an alert on an increase sees the series before the first event.
func (m *metrics) declare(consumers map[string][]string) {
	for stream, names := range consumers {
		for _, v := range []*prometheus.CounterVec{m.appended, m.appendedBytes, m.deleted, m.rejected, m.corrupt} {
			v.WithLabelValues(stream)
		}
		for _, reason := range []string{dropCap, dropAge} {
			m.dropped.WithLabelValues(stream, reason)
		}
		for _, c := range names {
			m.consDropped.WithLabelValues(c, stream)
		}
	}
	for _, t := range compactTriggers {
		m.compactions.WithLabelValues(t)
	}
}

func (m *metrics) unregister() {
	if m.reg == nil {
		return
	}
	for _, col := range m.collectors {
		m.reg.Unregister(col)
	}
}

// observeCommit counts what one committed transaction did.
func (m *metrics) observeCommit(w *wtx, took time.Duration, noSync bool) {
	m.commits.Inc()
	if !noSync {
		m.fsyncs.Add(2)
	}
	m.commitSeconds.Observe(took.Seconds())
	var n uint64
	for stream, k := range w.appended {
		n += k
		m.appended.WithLabelValues(stream).Add(float64(k))
		m.appendedBytes.WithLabelValues(stream).Add(float64(w.appendedBytes[stream]))
	}
	if n > 0 {
		m.commitRecords.Observe(float64(n))
	}
	for stream, k := range w.deleted {
		m.deleted.WithLabelValues(stream).Add(float64(k))
	}
	for key, k := range w.dropped {
		m.dropped.WithLabelValues(key.stream, key.reason).Add(float64(k))
	}
	for id, k := range w.consDropped {
		m.consDropped.WithLabelValues(id.Consumer, id.Stream).Add(float64(k))
	}
	for stream, k := range w.rejected {
		m.rejected.WithLabelValues(stream).Add(float64(k))
	}
	for stream, k := range w.corrupt {
		m.corrupt.WithLabelValues(stream).Add(float64(k))
	}
}

// stateCollector exports gauges computed from Stats at scrape time.
type stateCollector struct{ s *Spool }

var (
	descRecords = prometheus.NewDesc(ns+"stream_records", "Records held, by stream.", []string{"stream"}, nil)
	descBytes   = prometheus.NewDesc(ns+"stream_bytes", "Logical bytes held, by stream.", []string{"stream"}, nil)
	descLastSeq = prometheus.NewDesc(ns+"stream_last_seq", "Last sequence number assigned, by stream.", []string{"stream"}, nil)
	descLagRec  = prometheus.NewDesc(ns+"consumer_lag_records", "Sequence numbers between the cursor and the stream's last record.", []string{"consumer", "stream"}, nil)
	descLagSec  = prometheus.NewDesc(ns+"consumer_lag_seconds", "Age of the oldest record the consumer has not acknowledged.", []string{"consumer", "stream"}, nil)
	descFile    = prometheus.NewDesc(ns+"file_bytes", "Size of the spool file.", nil, nil)
	descLogical = prometheus.NewDesc(ns+"logical_bytes", "Logical bytes held (keys and values of records).", nil, nil)
	descCap     = prometheus.NewDesc(ns+"cap_bytes", "Effective logical byte cap.", nil, nil)
	descOrphans = prometheus.NewDesc(ns+"orphan_cursors", "Cursors of consumers not configured (kept, holding back no data).", nil, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRecords, descBytes, descLastSeq, descLagRec, descLagSec, descFile, descLogical, descCap, descOrphans} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	g := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for name, ss := range st.Streams {
		g(descRecords, float64(ss.Records), name)
		g(descBytes, float64(ss.Bytes), name)
		g(descLastSeq, float64(ss.LastSeq), name)
	}
	for _, cs := range st.Consumers {
		g(descLagRec, float64(cs.LagRecords), cs.Consumer, cs.Stream)
		g(descLagSec, cs.LagSeconds, cs.Consumer, cs.Stream)
	}
	g(descFile, float64(st.FileBytes))
	g(descLogical, float64(st.LogicalBytes))
	g(descCap, float64(st.CapBytes))
	orphans := 0
	for _, cs := range st.Consumers {
		if cs.Orphan {
			orphans++
		}
	}
	g(descOrphans, float64(orphans))
}
