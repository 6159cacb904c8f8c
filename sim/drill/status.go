package drill

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// rawStream is the agent's spool stream of raw readings.
const rawStream = "raw"

// agentStatus is the part of the agent's /status JSON the drill reads.
type agentStatus struct {
	Version   string    `json:"version"`
	StartedAt time.Time `json:"started_at"`
	Ready     bool      `json:"ready"`
	MQTT      struct {
		Connected bool `json:"connected"`
	} `json:"mqtt"`
	Spool struct {
		Streams []struct {
			Name    string `json:"name"`
			LastSeq uint64 `json:"last_seq"`
		} `json:"streams"`
	} `json:"spool"`
	Sinks []struct {
		Sink       string `json:"sink"`
		Stream     string `json:"stream"`
		LagRecords uint64 `json:"lag_records"`
		Sent       uint64 `json:"sent"`
		Link       struct {
			State string `json:"state"`
		} `json:"link"`
	} `json:"sinks"`
}

// backlog is the largest count of raw readings spooled and not yet
// confirmed by a sink.
func (s agentStatus) backlog() uint64 {
	var n uint64
	for _, k := range s.Sinks {
		if k.Stream == rawStream {
			n = max(n, k.LagRecords)
		}
	}
	return n
}

func (s agentStatus) spooled() uint64 {
	for _, st := range s.Spool.Streams {
		if st.Name == rawStream {
			return st.LastSeq
		}
	}
	return 0
}

// sinks returns, per sink of the raw stream, the records sent since the
// agent started and the agent's link state.
func (s agentStatus) sinks() (sent map[string]uint64, links map[string]string) {
	sent, links = map[string]uint64{}, map[string]string{}
	for _, k := range s.Sinks {
		if k.Stream == rawStream {
			sent[k.Sink] = k.Sent
			links[k.Sink] = k.Link.State
		}
	}
	return sent, links
}

// Metrics the drill records from /metrics (summed over their labels).
var recordedMetrics = []string{
	"edgespool_intake_readings_total",
	"edgespool_intake_duplicates_total",
	"edgespool_intake_qos0_messages_total",
	"edgespool_intake_rejected_total",
	"edgespool_mqtt_connected",
	"edgespool_mqtt_connection_lost_total",
	"edgespool_uplink_sent_records_total",
	"edgespool_uplink_errors_total",
	"edgespool_downsample_windows_emitted_total",
	"edgespool_downsample_late_readings_total",
	"edgespool_downsample_alarms_total",
	"edgespool_spool_rejected_records_total",
	metricSeqGaps, metricSpoolDropped, metricSpoolCorrupt, metricDeadLetters,
}

// The agent's loss counters: every reading the agent lost or saw lost
// before it (a generator's skipped seq numbers) is counted in one of them.
const (
	metricSeqGaps      = "edgespool_intake_seq_gap_readings_total"
	metricSpoolDropped = "edgespool_spool_dropped_records_total"
	metricSpoolCorrupt = "edgespool_spool_corrupt_records_total"
	metricDeadLetters  = "edgespool_uplink_dead_letters_total"
)

// dropMetrics are the loss counters, in report order.
var dropMetrics = []string{metricSeqGaps, metricSpoolDropped, metricSpoolCorrupt, metricDeadLetters}

// probe reads the agent's HTTP API.
type probe struct {
	base   string
	client *http.Client
}

func newProbe(base string) probe {
	return probe{base: strings.TrimRight(base, "/"), client: &http.Client{Timeout: 2 * time.Second}}
}

func (p probe) get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: %s", path, resp.Status)
	}
	return b, err
}

// status returns the parsed and the raw /status.
func (p probe) status(ctx context.Context) (agentStatus, json.RawMessage, error) {
	var st agentStatus
	b, err := p.get(ctx, "/status")
	if err != nil {
		return st, nil, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, nil, fmt.Errorf("/status: %w", err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, b); err != nil {
		return st, b, nil
	}
	return st, compact.Bytes(), nil
}

// ready reports whether /readyz answers 200.
func (p probe) ready(ctx context.Context) bool {
	_, err := p.get(ctx, "/readyz")
	return err == nil
}

// metrics returns the recorded metrics, each summed over its labels.
func (p probe) metrics(ctx context.Context) (map[string]float64, error) {
	b, err := p.get(ctx, "/metrics")
	if err != nil {
		return nil, err
	}
	return parseMetrics(strings.NewReader(string(b)))
}

func parseMetrics(r io.Reader) (map[string]float64, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("/metrics: %w", err)
	}
	out := map[string]float64{}
	for _, name := range recordedMetrics {
		f, ok := fams[name]
		if !ok {
			continue
		}
		var sum float64
		for _, m := range f.GetMetric() {
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Untyped != nil:
				sum += m.Untyped.GetValue()
			}
		}
		out[name] = sum
	}
	return out, nil
}

// counters accumulates counters across agent restarts: a counter that
// goes down (a new process) adds its whole new value.
type counters struct {
	last, total map[string]float64
	started     time.Time
}

func newCounters() *counters {
	return &counters{last: map[string]float64{}, total: map[string]float64{}}
}

// add takes one sample of an agent started at started.
func (c *counters) add(started time.Time, m map[string]float64) {
	restarted := !c.started.IsZero() && !started.Equal(c.started)
	c.started = started
	for k, v := range m {
		last := c.last[k]
		if restarted || v < last {
			last = 0
		}
		c.total[k] += v - last
		c.last[k] = v
	}
}

// snapshot returns a copy of the totals.
func (c *counters) snapshot() map[string]float64 {
	out := make(map[string]float64, len(c.total))
	for k, v := range c.total {
		out[k] = v
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
