package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/edgespool/edgespool/agent/model"

	"github.com/edgespool/edgespool/uplink"
)

// fwdRun tracks the goroutines of the forwarders.
type fwdRun struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (a *Agent) buildSinks() error {
	if k := a.cfg.Kafka; k.Enabled {
		s, err := uplink.NewKafka(uplink.KafkaOptions{Brokers: k.Brokers,
			Topics:      map[string]string{model.StreamRaw: k.RawTopic, model.StreamDownsampled: k.DownsampledTopic},
			Compression: k.Compression, BatchRecords: k.BatchMaxRecords, MaxBytesPerSecond: int64(k.BandwidthLimit),
			TLS: tlsOptions(k.TLS), SASL: uplink.SASLOptions{Mechanism: k.SASL.Mechanism, Username: k.SASL.Username,
				Password: k.SASL.Password}, Logger: a.log.With("component", "kafka")})
		if err != nil {
			return fmt.Errorf("kafka sink: %w", err)
		}
		a.sinks = append(a.sinks, s)
	}
	if i := a.cfg.InfluxDB; i.Enabled {
		s, err := uplink.NewInflux(uplink.InfluxOptions{URL: i.URL, Org: i.Org, Token: i.Token,
			Buckets:     map[string]string{model.StreamRaw: i.RawBucket, model.StreamDownsampled: i.DownsampledBucket},
			BatchPoints: i.BatchMaxPoints, Parallel: i.ParallelWrites, NoGzip: !i.Gzip, MaxBytesPerSecond: int64(i.BandwidthLimit),
			TLS: tlsOptions(i.TLS), Logger: a.log.With("component", "influx")})
		if err != nil {
			return fmt.Errorf("influxdb sink: %w", err)
		}
		a.sinks = append(a.sinks, s)
	}
	return nil
}

// startForwarders starts one forwarder per (sink, stream); the downsampled
// stream has priority on each link.
func (a *Agent) startForwarders() error {
	if err := a.buildSinks(); err != nil {
		return err
	}
	m := uplink.NewMetrics(a.reg)
	head := func(stream string) uint64 { return a.sp.Stats().Streams[stream].LastSeq }
	for _, s := range a.sinks {
		link := uplink.NewLink(s.Name(), uplink.LinkOptions{Logger: a.log.With("sink", s.Name()), Metrics: m})
		for _, stream := range []string{model.StreamDownsampled, model.StreamRaw} {
			f, err := uplink.NewForwarder(a.sp, s, uplink.ForwarderOptions{Stream: stream, Link: link,
				Backoff: uplink.BackoffOptions{Min: a.cfg.Uplink.BackoffMin, Max: a.cfg.Uplink.BackoffMax},
				Head:    head, Logger: a.log.With("component", "forwarder"), Metrics: m})
			if err != nil {
				return err
			}
			a.fwds = append(a.fwds, f)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.fwdRun = &fwdRun{cancel: cancel}
	for _, f := range a.fwds {
		a.fwdRun.wg.Add(1)
		go func() {
			defer a.fwdRun.wg.Done()
			if err := f.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				a.log.Error("forwarder stopped", "consumer", f.Consumer(), "err", err)
			}
		}()
	}
	return nil
}

// drainForwarders lets forwarders send what is spooled for up to timeout,
// then stops them.
func (a *Agent) drainForwarders(timeout time.Duration) {
	if a.fwdRun == nil {
		return
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && a.backlog() > 0 {
		time.Sleep(50 * time.Millisecond)
	}
	if n := a.backlog(); n > 0 {
		a.log.Info("drain deadline reached; the backlog stays spooled", "records", n)
	}
	a.fwdRun.cancel()
	a.fwdRun.wg.Wait()
}

// backlog is the records spooled but not yet confirmed by every forwarder.
func (a *Agent) backlog() uint64 {
	var n uint64
	for _, f := range a.fwds {
		st := f.Status()
		if st.Link.State != uplink.LinkUp {
			continue // a link that is down will not drain now
		}
		n += st.LagRecords
	}
	return n
}
