package e2e

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent/model"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgespool/edgespool/sim/fleet"
	"github.com/edgespool/edgespool/sim/testenv"
	"github.com/edgespool/edgespool/sim/verify"
)

// benchBroker makes the benchmarks' Mosquitto save its state every 60 s as
// packaging/mosquitto-edgespool.conf does (the tests' broker saves every
// second, for the crash tests).
var benchBroker = testenv.BrokerConfig("autosave_interval 60")

// liveConfig is the load of BenchmarkLiveLatency, from the environment:
// EDGESPOOL_E2E_RATE readings/s in total (default 20000),
// EDGESPOOL_E2E_SECONDS of publishing per iteration (default 12; the
// first 2 s are warm-up and not measured),
// EDGESPOOL_E2E_COMMIT_MAX_DELAY for the agent's spool.commit_max_delay,
// EDGESPOOL_E2E_PUB_QOS 1 (default) or 0 (see pubQoS0) and
// EDGESPOOL_E2E_ALIGN for the fleet's schedule alignment (default 2ms).
type liveConfig struct {
	rate          float64
	dur, warmup   time.Duration
	gens, conns   int
	influxSamples int           // generators whose points are polled in InfluxDB
	commitDelay   string        // spool.commit_max_delay; "" for the agent's default
	align         time.Duration // fleet.Options.Align
	// pubQoS0: the fleet publishes at QoS 0 (as the reference devices do)
	// and Mosquitto upgrades the messages to the agent's QoS 1
	// subscription (upgrade_outgoing_qos): the agent's work is the same,
	// the publisher's and the broker's is smaller.
	pubQoS0 bool
}

func liveConfigFromEnv(b *testing.B) liveConfig {
	c := liveConfig{rate: 20000, dur: 12 * time.Second, warmup: 2 * time.Second, gens: 50, conns: 4, influxSamples: 4,
		align: 2 * time.Millisecond}
	switch v := os.Getenv("EDGESPOOL_E2E_PUB_QOS"); v {
	case "", "1":
	case "0":
		c.pubQoS0 = true
	default:
		b.Fatalf("EDGESPOOL_E2E_PUB_QOS=%q (0 or 1)", v)
	}
	if v := os.Getenv("EDGESPOOL_E2E_ALIGN"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("EDGESPOOL_E2E_ALIGN=%q", v)
		}
		c.align = d
	}
	c.rate = envRate(b, c.rate)
	c.dur = envSeconds(b, c.dur, 3)
	if v := os.Getenv("EDGESPOOL_E2E_COMMIT_MAX_DELAY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("EDGESPOOL_E2E_COMMIT_MAX_DELAY=%q", v)
		}
		c.commitDelay = d.String()
	}
	return c
}

// BenchmarkLiveLatency runs the edgespool binary with both links up
// (Kafka and InfluxDB reached directly, Mosquitto configured as
// packaging/mosquitto-edgespool.conf for autosave) while a simulated fleet
// of 50 generators publishes 20,000 readings/s at QoS 1 through 4 MQTT
// connections, and measures:
//
//   - kafka_p50_ms, kafka_p99_ms: for every reading, from its publish time
//     (the payload's event time, taken just before the MQTT publish) to the
//     moment an independent kgo consumer in this process received the
//     record from the raw topic;
//   - influx_p50_ms, influx_p99_ms: for every reading, from its publish
//     time to InfluxDB's 2xx answer to the write that carried its point,
//     seen by a reverse proxy in this process between the agent and
//     influxd (influxTap); from then on queries return the point. A poller
//     checks that the points of a few sample generators are queryable;
//   - agent_cpu_s/Mreadings: the agent process's user+system CPU seconds
//     (/proc/<pid>/stat) per million readings published after the warm-up,
//     until they are all in Kafka and InfluxDB;
//   - agent_rss_MB: the largest resident set (/proc/<pid>/status VmRSS)
//     sampled every 250 ms during the measurement;
//   - readings/s: the publish rate the fleet achieved.
//
// Everything (Mosquitto, the publisher, kfake and the consumer, influxd,
// the agent) shares the machine's cores.
func BenchmarkLiveLatency(b *testing.B) {
	c := liveConfigFromEnv(b)
	broker := []testenv.BrokerOption{benchBroker}
	if c.pubQoS0 {
		broker = append(broker, testenv.BrokerConfig("upgrade_outgoing_qos true"))
	}
	e := newDirectEnv(b, broker...)
	tap := startInfluxTap(b, e.influx.URL, verify.DefaultRawDB)
	a := e.newAgent(b, agentOptions{Window: time.Minute, LogLevel: "warn", CommitMaxDelay: c.commitDelay, InfluxURL: tap.URL})
	a.start()
	kc := startLatencyConsumer(b, e)
	var res liveResult
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res.add(runLive(b, e, a, probes{kafka: kc, influx: tap}, c, i))
	}
	b.StopTimer()
	res.report(b)
	a.term()
}

// liveRun is the outcome of one publishing period.
type liveRun struct {
	kafka, influx []time.Duration
	published     uint64
	elapsed       time.Duration
	cpu           time.Duration
	maxRSS        int64
}

type liveResult struct{ runs []liveRun }

func (r *liveResult) add(x liveRun) { r.runs = append(r.runs, x) }

func (r *liveResult) report(b *testing.B) {
	var all liveRun
	for _, x := range r.runs {
		all.kafka = append(all.kafka, x.kafka...)
		all.influx = append(all.influx, x.influx...)
		all.published += x.published
		all.elapsed += x.elapsed
		all.cpu += x.cpu
		all.maxRSS = max(all.maxRSS, x.maxRSS)
	}
	if all.published == 0 || len(all.kafka) == 0 {
		b.Fatal("nothing measured")
	}
	k50, k99, kmax := quantiles(all.kafka)
	i50, i99, imax := quantiles(all.influx)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(ms(k50), "kafka_p50_ms")
	b.ReportMetric(ms(k99), "kafka_p99_ms")
	b.ReportMetric(ms(i50), "influx_p50_ms")
	b.ReportMetric(ms(i99), "influx_p99_ms")
	b.ReportMetric(all.cpu.Seconds()/float64(all.published)*1e6, "agent_cpu_s/Mreadings")
	b.ReportMetric(float64(all.maxRSS)/(1<<20), "agent_rss_MB")
	b.ReportMetric(float64(all.published)/all.elapsed.Seconds(), "readings/s")
	b.Logf("kafka: %d readings, p50 %v p99 %v max %v; influx: %d readings, p50 %v p99 %v max %v; "+
		"agent CPU %v for %d readings in %v",
		len(all.kafka), k50, k99, kmax, len(all.influx), i50, i99, imax, all.cpu, all.published, all.elapsed.Round(time.Millisecond))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// quantiles returns p50, p99 and the maximum of ds (sorted in place).
func quantiles(ds []time.Duration) (p50, p99, top time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	slices.Sort(ds)
	at := func(q float64) time.Duration { return ds[min(len(ds)-1, int(q*float64(len(ds))))] }
	return at(0.50), at(0.99), ds[len(ds)-1]
}

// probes time the readings where they arrive.
type probes struct {
	kafka  latencyConsumer
	influx *influxTap
}

// runLive publishes one period with generators of its own (so that their
// seqs are new to the agent's duplicate detection) and measures it.
func runLive(b *testing.B, e *env, a *agentProc, p probes, c liveConfig, iter int) liveRun {
	first := 1 + iter*c.gens
	rec := newSampleRecorder(first, c.influxSamples)
	sinceFrom := time.Now().Add(c.warmup).UnixNano()
	p.kafka.measure(first, first+c.gens-1, sinceFrom)
	p.influx.measure(first, first+c.gens-1, sinceFrom)
	ip := startInfluxPoller(b, e.influx.URL, rec)

	b.StartTimer()
	pub := startFleetQoS(b, e.broker.URL, c.conns, c.pubQoS0, fleet.Options{Generators: c.gens, First: first,
		Rate: c.rate / float64(c.gens), Duration: c.dur, Seed: uint64(iter + 1), Recorder: rec, Align: c.align})
	time.Sleep(time.Until(time.Unix(0, sinceFrom)))
	cpu0, err := readProc(a.pid())
	if err != nil {
		b.Fatal(err)
	}
	pub0, t0 := pub.published(), time.Now()
	m0 := a.metrics()
	share := startCPUShare(map[string]int{"agent": a.pid(), "mosquitto": e.broker.PID(), "influxd": e.influx.PID(),
		"bench process (publisher, kfake, consumers)": os.Getpid()})
	rss := sampleRSS(a.pid())
	pub.wait(b)
	elapsed := time.Since(t0)
	b.Log(share.stop())
	published := pub.published() - pub0
	want := pub.published()
	if err := p.kafka.waitFor(want, 60*time.Second); err != nil {
		b.Errorf("kafka: %v", err)
	}
	if err := p.influx.waitFor(want, 60*time.Second); err != nil {
		b.Errorf("influx: %v", err)
	}
	if err := ip.waitAll(60 * time.Second); err != nil {
		b.Errorf("influx: %v", err)
	}
	b.StopTimer()
	cpu1, err := readProc(a.pid())
	if err != nil {
		b.Fatal(err)
	}
	logBatching(b, m0, a.metrics(), time.Since(t0))
	return liveRun{kafka: p.kafka.take(), influx: p.influx.take(), published: published, elapsed: elapsed,
		cpu: cpu1.CPU - cpu0.CPU, maxRSS: rss.stop()}
}

// latencyConsumer reads the raw Kafka topic with kgo and records, for the
// readings of the generators being measured, receive time - event time.
type latencyConsumer struct{ *latencyLog }

func startLatencyConsumer(b *testing.B, e *env) latencyConsumer {
	kc := latencyConsumer{newLatencyLog("readings arrived")}
	cl := e.kafka.Client(b, kgo.ConsumeTopics(verify.DefaultRawTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	b.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			recs := cl.PollFetches(ctx).Records()
			kc.add(time.Now(), func(report func(int, int64, bool)) {
				for _, r := range recs {
					report(genAndTime(r.Value))
				}
			})
		}
	}()
	return kc
}

// genAndTime extracts the generator index and the event time from a raw
// record's JSON value (uplink's format: "generatorID":"generatorN", and
// "time" in RFC 3339 with nanoseconds).
func genAndTime(v []byte) (gen int, ev int64, ok bool) {
	id, ok := jsonString(v, "generatorID")
	if !ok || !strings.HasPrefix(id, "generator") {
		return 0, 0, false
	}
	gen, err := strconv.Atoi(strings.TrimPrefix(id, "generator"))
	if err != nil {
		return 0, 0, false
	}
	ts, ok := jsonString(v, "time")
	if !ok {
		return 0, 0, false
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return 0, 0, false
	}
	return gen, t.UnixNano(), true
}

// jsonString returns the string value of "name" in a flat JSON object
// (with or without spaces after the colon).
func jsonString(v []byte, name string) (string, bool) {
	i := bytes.Index(v, []byte(`"`+name+`":`))
	if i < 0 {
		return "", false
	}
	rest := bytes.TrimLeft(v[i+len(name)+3:], " ")
	if len(rest) == 0 || rest[0] != '"' {
		return "", false
	}
	rest = rest[1:]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return "", false
	}
	return string(rest[:j]), true
}

// sampleRecorder keeps the event times of the sample generators' readings,
// in publish order (one goroutine per generator records them).
type sampleRecorder struct {
	mu    sync.Mutex
	times map[string][]int64
}

func newSampleRecorder(first, n int) *sampleRecorder {
	r := &sampleRecorder{times: map[string][]int64{}}
	for i := range n {
		r.times[fleet.ID(first+i)] = nil
	}
	return r
}

func (r *sampleRecorder) Record(rd model.Reading) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ts, ok := r.times[rd.GeneratorID]; ok {
		r.times[rd.GeneratorID] = append(ts, rd.Time)
	}
	return nil
}

// influxPoller polls InfluxDB for the newest point of each sample
// generator, to check that the written points are queryable; a reading
// counts as visible once a poll returns a point of its generator at or
// after its time.
type influxPoller struct {
	url  string
	rec  *sampleRecorder
	seen map[string]int // readings of each generator already visible
	mu   sync.Mutex
	stop context.CancelFunc
	done chan struct{}
	err  error
}

const influxPollEvery = 200 * time.Millisecond

func startInfluxPoller(b *testing.B, influxURL string, rec *sampleRecorder) *influxPoller {
	ctx, cancel := context.WithCancel(context.Background())
	p := &influxPoller{url: influxURL, rec: rec, seen: map[string]int{}, stop: cancel, done: make(chan struct{})}
	b.Cleanup(func() { cancel(); <-p.done })
	go func() {
		defer close(p.done)
		client := &http.Client{Timeout: 5 * time.Second}
		tick := time.NewTicker(influxPollEvery)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if err := p.poll(client); err != nil {
				p.mu.Lock()
				p.err = err
				p.mu.Unlock()
			}
		}
	}()
	return p
}

// poll queries the newest point of every sample generator with one
// statement: last() per generatorID, over the points from the oldest
// reading not yet seen. Without pending readings it does not query.
func (p *influxPoller) poll(client *http.Client) error {
	ids, from, ok := p.pending()
	if !ok {
		return nil
	}
	q := fmt.Sprintf("SELECT last(fuel) FROM %s WHERE time >= %d AND generatorID =~ /^(%s)$/ GROUP BY generatorID",
		model.Measurement, from, strings.Join(ids, "|"))
	resp, err := client.PostForm(p.url+"/query", url.Values{"db": {verify.DefaultRawDB}, "q": {q}, "epoch": {"ns"}})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var out struct {
		Results []struct {
			Series []struct {
				Tags   map[string]string `json:"tags"`
				Values [][]json.Number   `json:"values"`
			} `json:"series"`
			Error string `json:"error"`
		} `json:"results"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return fmt.Errorf("influx query: %s: %w", resp.Status, err)
	}
	if len(out.Results) != 1 || out.Results[0].Error != "" {
		return fmt.Errorf("influx query: %s: %+v", resp.Status, out.Results)
	}
	for _, s := range out.Results[0].Series {
		if len(s.Values) == 0 || len(s.Values[0]) == 0 {
			continue
		}
		newest, err := s.Values[0][0].Int64()
		if err != nil {
			return fmt.Errorf("influx time: %w", err)
		}
		p.visible(s.Tags["generatorID"], newest)
	}
	return nil
}

// pending returns the sample generators and the time of the oldest
// recorded reading not yet seen; ok is false when all were seen.
func (p *influxPoller) pending() (ids []string, from int64, ok bool) {
	p.rec.mu.Lock()
	defer p.rec.mu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, ts := range p.rec.times {
		ids = append(ids, id)
		if n := p.seen[id]; n < len(ts) && (!ok || ts[n] < from) {
			from, ok = ts[n], true
		}
	}
	slices.Sort(ids)
	return ids, from, ok
}

// visible records the readings of id up to time newest as seen.
func (p *influxPoller) visible(id string, newest int64) {
	p.rec.mu.Lock()
	ts := p.rec.times[id]
	p.rec.mu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.seen[id]
	for n < len(ts) && ts[n] <= newest {
		n++
	}
	p.seen[id] = n
}

// waitAll waits until every recorded sample reading was seen, then stops
// polling.
func (p *influxPoller) waitAll(timeout time.Duration) error {
	defer func() { p.stop(); <-p.done }()
	deadline := time.Now().Add(timeout)
	for {
		p.rec.mu.Lock()
		pending := 0
		for id, ts := range p.rec.times {
			p.mu.Lock()
			pending += len(ts) - p.seen[id]
			p.mu.Unlock()
		}
		p.rec.mu.Unlock()
		if pending == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			p.mu.Lock()
			defer p.mu.Unlock()
			return fmt.Errorf("%d sample readings not visible after %v (last poll error: %v)", pending, timeout, p.err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// metrics scrapes the agent's /metrics into name{labels} -> value.
func (a *agentProc) metrics() map[string]float64 {
	out := map[string]float64{}
	resp, err := a.client.Get("http://" + a.httpAddr + "/metrics")
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	_, _ = body.ReadFrom(resp.Body)
	for _, line := range strings.Split(body.String(), "\n") {
		i := strings.LastIndexByte(line, ' ')
		if i < 0 || strings.HasPrefix(line, "#") {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// logBatching logs how the agent grouped the readings of a run: spool
// commits and uplink batches (per-batch costs dominate at small batches).
func logBatching(b *testing.B, m0, m1 map[string]float64, d time.Duration) {
	delta := func(k string) float64 { return m1[k] - m0[k] }
	commits := delta("edgespool_spool_commits_total")
	line := fmt.Sprintf("%.0f spool commits/s", commits/d.Seconds())
	for _, sink := range []string{"kafka", "influx"} {
		l := `{sink="` + sink + `",stream="raw"}`
		n, recs := delta("edgespool_uplink_batches_total"+l), delta("edgespool_uplink_sent_records_total"+l)
		sendSum, sends := delta("edgespool_uplink_send_seconds_sum"+l), delta("edgespool_uplink_send_seconds_count"+l)
		if n > 0 && sends > 0 {
			line += fmt.Sprintf("; %s raw: %.0f batches/s of %.0f readings, %.0f ms per send", sink, n/d.Seconds(), recs/n, 1000*sendSum/sends)
		}
	}
	b.Log(line)
	b.Logf("event-time delay p50 from the agent's histograms: received %s, confirmed by kafka %s, by influx %s",
		histP50(m0, m1, "edgespool_intake_delay_seconds", ""),
		histP50(m0, m1, "edgespool_uplink_delivery_delay_seconds", `sink="kafka",stream="raw",`),
		histP50(m0, m1, "edgespool_uplink_delivery_delay_seconds", `sink="influx",stream="raw",`))
}

// histP50 estimates the median of what a histogram observed between two
// scrapes, interpolating linearly within the bucket as PromQL's
// histogram_quantile does. labels are the ones before "le", each with its
// trailing comma.
func histP50(m0, m1 map[string]float64, name, labels string) string {
	prefix := name + "_bucket{" + labels + `le="`
	type bucket struct{ le, n float64 }
	var bs []bucket
	for k, v := range m1 {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		le, err := strconv.ParseFloat(strings.TrimSuffix(rest, `"}`), 64)
		if err != nil {
			continue
		}
		bs = append(bs, bucket{le, v - m0[k]})
	}
	slices.SortFunc(bs, func(a, b bucket) int { return cmp.Compare(a.le, b.le) })
	if len(bs) == 0 || bs[len(bs)-1].n == 0 {
		return "n/a"
	}
	rank, lo, below := bs[len(bs)-1].n/2, 0.0, 0.0
	for _, x := range bs {
		if x.n >= rank {
			if math.IsInf(x.le, 1) {
				return fmt.Sprintf("> %v s", lo)
			}
			return fmt.Sprintf("%.0f ms", 1000*(lo+(x.le-lo)*(rank-below)/(x.n-below)))
		}
		lo, below = x.le, x.n
	}
	return "n/a"
}

// envRate is EDGESPOOL_E2E_RATE (readings/s in total, above 0), or def.
func envRate(b testing.TB, def float64) float64 {
	v := os.Getenv("EDGESPOOL_E2E_RATE")
	if v == "" {
		return def
	}
	r, err := strconv.ParseFloat(v, 64)
	if err != nil || r <= 0 {
		b.Fatalf("EDGESPOOL_E2E_RATE=%q", v)
	}
	return r
}

// envSeconds is EDGESPOOL_E2E_SECONDS (publishing per iteration, at least
// min seconds), or def.
func envSeconds(b testing.TB, def time.Duration, min float64) time.Duration {
	v := os.Getenv("EDGESPOOL_E2E_SECONDS")
	if v == "" {
		return def
	}
	s, err := strconv.ParseFloat(v, 64)
	if err != nil || s < min {
		b.Fatalf("EDGESPOOL_E2E_SECONDS=%q (at least %g)", v, min)
	}
	return time.Duration(s * float64(time.Second))
}
