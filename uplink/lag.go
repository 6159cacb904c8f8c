package uplink

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// lag returns the records spooled after the forwarder's cursor (needs
// Head; 0 without it) and the event-time age of the oldest of them, read
// from the log now. Both hold while the link is down and the backlog
// grows, not only after a confirmed send.
func (f *Forwarder) lag() (records uint64, seconds float64) {
	f.mu.Lock()
	cur, known := f.st.Cursor, f.cursorKnown
	f.mu.Unlock()
	if !known { // before Run: the durable cursor
		seq, _, err := f.log.Cursor(f.o.Consumer, f.o.Stream)
		if err != nil {
			return 0, 0
		}
		cur = seq
	}
	if f.o.Head != nil {
		h := f.o.Head(f.o.Stream)
		if h <= cur {
			return 0, 0
		}
		records = h - cur
	}
	b, err := f.log.ReadAfter(f.o.Stream, cur, 1)
	if err != nil || len(b.Records) == 0 {
		return records, 0
	}
	return records, max(0, f.clk.Now().Sub(time.Unix(0, b.Records[0].Time)).Seconds())
}

// refreshLag computes the lag and publishes it in the status and metrics.
func (f *Forwarder) refreshLag() {
	records, seconds := f.lag()
	f.lagRecords.Set(float64(records))
	f.lagSeconds.Set(seconds)
	f.mu.Lock()
	f.st.LagRecords, f.st.LagSeconds = records, seconds
	f.mu.Unlock()
}

// track makes a metrics scrape refresh f's lag gauges (while f runs).
func (m *Metrics) track(f *Forwarder) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.running == nil {
		m.running = map[*Forwarder]struct{}{}
	}
	m.running[f] = struct{}{}
}

func (m *Metrics) untrack(f *Forwarder) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.running, f)
}

// lagCollector exports the lag gauges, refreshed from the spool at each
// scrape, so that they show the backlog of a link that is down.
type lagCollector struct{ m *Metrics }

func (c lagCollector) Describe(ch chan<- *prometheus.Desc) {
	c.m.lagRecords.Describe(ch)
	c.m.lagSeconds.Describe(ch)
}

func (c lagCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	fwds := make([]*Forwarder, 0, len(c.m.running))
	for f := range c.m.running {
		fwds = append(fwds, f)
	}
	c.m.mu.Unlock()
	for _, f := range fwds {
		f.refreshLag()
	}
	c.m.lagRecords.Collect(ch)
	c.m.lagSeconds.Collect(ch)
}
