package agent

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/edgespool/edgespool/spool"
	"github.com/edgespool/edgespool/uplink"
)

// buildSinks returns the enabled sinks; on error it closes those built.
func (a *Agent) buildSinks() ([]uplink.Sink, error) {
	var sinks []uplink.Sink
	fail := func(err error) ([]uplink.Sink, error) {
		for _, s := range sinks {
			_ = s.Close()
		}
		return nil, err
	}
	if a.cfg.Kafka.Enabled {
		s, err := uplink.NewKafka(a.kafkaOptions())
		if err != nil {
			return fail(fmt.Errorf("kafka sink: %w", err))
		}
		sinks = append(sinks, s)
	}
	if a.cfg.InfluxDB.Enabled {
		s, err := uplink.NewInflux(a.influxOptions())
		if err != nil {
			return fail(fmt.Errorf("influxdb sink: %w", err))
		}
		sinks = append(sinks, s)
	}
	return sinks, nil
}

// uplinks is the forwarders component: one forwarder per (sink, stream),
// the downsampled stream with priority on each link. On stop it lets the
// forwarders send what is spooled for up to the drain timeout, then stops
// them and closes the sinks.
type uplinks struct {
	sp    *spool.Spool
	sinks []uplink.Sink
	fwds  []*uplink.Forwarder
	drain func() time.Duration // the drain timeout, read at stop
	acked chan struct{}        // a forwarder's cursor moved
	log   *slog.Logger
}

// uplinkStage builds the sinks and forwarders.
func (a *Agent) uplinkStage() ([]named, error) {
	sinks, err := a.buildSinks()
	if err != nil || len(sinks) == 0 {
		return nil, err
	}
	u := &uplinks{sp: a.sp, sinks: sinks, acked: make(chan struct{}, 1), log: a.log,
		drain: func() time.Duration { return a.live.Load().drainTimeout }}
	log := ackSignal{Spool: a.sp, acked: u.acked}
	m := uplink.NewMetrics(a.reg)
	head := func(stream string) uint64 { return a.sp.Stats().Streams[stream].LastSeq }
	for _, s := range sinks {
		link := uplink.NewLink(s.Name(), uplink.LinkOptions{Logger: a.log.With("component", "link"), Metrics: m, Clock: a.clk,
			ProbeInterval: a.probeInterval()}) // logs "sink" itself
		for _, stream := range forwardedStreams {
			f, err := uplink.NewForwarder(log, s, uplink.ForwarderOptions{Stream: stream,
				Consumer: forwarderConsumer(s.Name(), stream), Link: link,
				Backoff: a.backoffOptions(), BatchBytes: a.batchBytes(),
				Head: head, Logger: a.log.With("component", "forwarder"), Metrics: m, Clock: a.clk})
			if err != nil {
				u.closeSinks()
				return nil, err
			}
			u.fwds = append(u.fwds, f)
		}
	}
	a.mu.Lock()
	a.fwds = u.fwds
	a.mu.Unlock()
	return []named{{"forwarders", u}}, nil
}

// Run forwards until ctx ends, drains, then closes the sinks.
func (u *uplinks) Run(ctx context.Context) error {
	defer u.closeSinks()
	stop, cancel := context.WithCancel(context.Background())
	defer cancel()
	g, failed := errgroup.WithContext(stop)
	for _, f := range u.fwds {
		g.Go(func() error { return f.Run(failed) })
	}
	select {
	case <-ctx.Done():
		u.waitDrained(failed, u.drain())
	case <-failed.Done():
	}
	cancel()
	return g.Wait()
}

func (u *uplinks) closeSinks() {
	for _, s := range u.sinks {
		if err := s.Close(); err != nil {
			u.log.Warn("closing sink", "sink", s.Name(), "err", err)
		}
	}
}

// waitDrained waits until every forwarder whose link is up has confirmed
// what is spooled, woken by each cursor move, for at most timeout.
func (u *uplinks) waitDrained(failed context.Context, timeout time.Duration) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for n := u.backlog(); n > 0; n = u.backlog() {
		select {
		case <-u.acked:
		case <-failed.Done():
			return
		case <-deadline.C:
			u.log.Info("drain deadline reached; the backlog stays spooled", "records", n)
			return
		}
	}
}

// backlog is the records spooled but not yet durably confirmed by the
// forwarders whose link is up (a link that is down will not drain now).
func (u *uplinks) backlog() uint64 {
	st := u.sp.Stats()
	var n uint64
	for _, f := range u.fwds {
		fs := f.Status()
		if fs.Link.State != uplink.LinkUp {
			continue
		}
		cur, _, err := u.sp.Cursor(f.Consumer(), fs.Stream)
		if head := st.Streams[fs.Stream].LastSeq; err == nil && head > cur {
			n += head - cur
		}
	}
	return n
}

// ackSignal is the spool as the forwarders see it: each durable cursor
// move wakes the drain.
type ackSignal struct {
	*spool.Spool
	acked chan struct{}
}

// Ack moves the cursor, then signals.
func (l ackSignal) Ack(consumer, stream string, seq uint64) error {
	err := l.Spool.Ack(consumer, stream, seq)
	select {
	case l.acked <- struct{}{}:
	default:
	}
	return err
}
