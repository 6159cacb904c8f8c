package uplink

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent/model"
	"github.com/edgespool/edgespool/sim/testenv"
	"github.com/edgespool/edgespool/spool"
	"github.com/twmb/franz-go/pkg/kadm"
)

// benchCut is the outage of BenchmarkResumeAfterCut (EDGESPOOL_BENCH_CUT,
// a Go duration, default 20s).
func benchCut() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("EDGESPOOL_BENCH_CUT")); err == nil && d > 0 {
		return d
	}
	return 20 * time.Second
}

// benchProbe is the probe interval of BenchmarkResumeAfterCut: the default,
// or none with EDGESPOOL_BENCH_PROBE=off (the backoff alone, to compare).
func benchProbe() time.Duration {
	if os.Getenv("EDGESPOOL_BENCH_PROBE") == "off" {
		return -1
	}
	return 0
}

// resumeRig is a spool fed at 5,000 readings/s and drained by a raw
// forwarder into kfake and one into InfluxDB 1.8, each through its own
// Toxiproxy proxy, with the default backoff and probe interval.
type resumeRig struct {
	sp      *spool.Spool
	fwds    map[string]*Forwarder
	proxies map[string]*testenv.Proxy
}

func newResumeRig(b *testing.B) *resumeRig {
	toxi := testenv.Toxiproxy(b)
	k := testenv.Kafka(b, testenv.KafkaBehind(toxi))
	if _, err := kadm.NewClient(k.Client(b)).CreateTopics(context.Background(), 3, 1, nil, DefaultRawTopic); err != nil {
		b.Fatal(err)
	}
	kp, err := toxi.Client.Proxy("kafka0")
	if err != nil {
		b.Fatal(err)
	}
	in := testenv.Influx(b)
	in.CreateDB(b, DefaultRawBucket)
	u, _ := url.Parse(in.URL)
	ip := toxi.Proxy(b, "influx", u.Host)
	r := &resumeRig{fwds: map[string]*Forwarder{},
		proxies: map[string]*testenv.Proxy{"kafka": {Listen: kp.Listen, Upstream: kp.Upstream, Proxy: kp}, "influx": ip}}
	r.sp, err = spool.Open(filepath.Join(b.TempDir(), "spool.db"), spool.Options{NoSync: true, MaxBytes: 1 << 30,
		Consumers: map[string][]string{model.StreamRaw: {"kafka/raw", "influx/raw"}}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.sp.Close() })
	ks, err := NewKafka(KafkaOptions{Brokers: k.Addrs})
	if err != nil {
		b.Fatal(err)
	}
	is, err := NewInflux(InfluxOptions{URL: "http://" + ip.Listen})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ks.Close(); is.Close() })
	for _, s := range []Sink{ks, is} {
		link := NewLink(s.Name(), LinkOptions{ProbeInterval: benchProbe()})
		f, err := NewForwarder(r.sp, s, ForwarderOptions{Stream: model.StreamRaw, Link: link})
		if err != nil {
			b.Fatal(err)
		}
		r.fwds[s.Name()] = f
	}
	return r
}

// produce appends 100 readings every 20 ms until ctx ends.
func (r *resumeRig) produce(ctx context.Context, b *testing.B) {
	recs := rawRecords(100, 100)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for k := range recs {
			recs[k].Time = time.Now().UnixNano()
			recs[k].Value = model.AppendReading(nil, reading(k, i))
		}
		if err := r.sp.Append(context.Background(), recs); err != nil {
			b.Error(err)
			return
		}
	}
}

// BenchmarkResumeAfterCut cuts both links for EDGESPOOL_BENCH_CUT while
// 5,000 readings/s are spooled, restores them, and reports per sink the
// seconds from the restore to the first batch confirmed (resume) and to
// the whole backlog of the restore confirmed (caught-up), and the backlog.
func BenchmarkResumeAfterCut(b *testing.B) {
	for i := 0; i < b.N; i++ {
		r := newResumeRig(b)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() { r.produce(ctx, b) })
		for _, f := range r.fwds {
			wg.Go(func() { _ = f.Run(ctx) })
		}
		time.Sleep(3 * time.Second)
		for _, p := range r.proxies {
			p.Cut(b)
		}
		time.Sleep(benchCut())
		head := r.sp.Stats().Streams[model.StreamRaw].LastSeq
		at := map[string]uint64{}
		for name, f := range r.fwds {
			at[name] = f.Status().Cursor
		}
		restored := time.Now()
		for _, p := range r.proxies {
			p.Restore(b)
		}
		resume, caught := map[string]time.Duration{}, map[string]time.Duration{}
		for len(caught) < len(r.fwds) && time.Since(restored) < 5*time.Minute {
			for name, f := range r.fwds {
				c := f.Status().Cursor
				if _, ok := resume[name]; !ok && c > at[name] {
					resume[name] = time.Since(restored)
				}
				if _, ok := caught[name]; !ok && c >= head {
					caught[name] = time.Since(restored)
				}
			}
			time.Sleep(time.Millisecond)
		}
		cancel()
		wg.Wait()
		for name := range r.fwds {
			b.ReportMetric(resume[name].Seconds(), name+"-resume-s")
			b.ReportMetric(caught[name].Seconds(), name+"-caughtup-s")
			b.ReportMetric(float64(head-at[name]), name+"-backlog")
		}
	}
}
