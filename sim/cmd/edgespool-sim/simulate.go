package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/edgespool/edgespool/sim/fleet"
)

// dialPublishers opens the MQTT connections of a run.
func dialPublishers(ctx context.Context, f runFlags, log *slog.Logger) ([]*fleet.MQTTPublisher, error) {
	n := f.conns
	if n <= 0 {
		n = f.generators
	}
	n = min(n, f.generators)
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var pubs []*fleet.MQTTPublisher
	for i := 0; i < n; i++ {
		p, err := fleet.DialMQTT(dctx, fleet.MQTTOptions{
			Broker: f.broker, ClientID: fmt.Sprintf("%s-%d", f.clientID, i+1),
			Username: f.user, Password: f.password, QoS0: f.qos0, Window: f.window, Logger: log,
		})
		if err != nil {
			closeAll(pubs, 0)
			return nil, err
		}
		pubs = append(pubs, p)
	}
	return pubs, nil
}

// closeAll waits up to drain for acknowledgements and disconnects.
func closeAll(pubs []*fleet.MQTTPublisher, drain time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	var errs []error
	for _, p := range pubs {
		errs = append(errs, p.Close(ctx))
	}
	return errors.Join(errs...)
}

type simResult struct {
	stats       fleet.Stats
	summary     fleet.Summary
	republished uint64
	closeErr    error
}

// simulate runs the fleet over pubs, prints counters, closes pubs and
// writes the summary and log files.
func simulate(ctx context.Context, f runFlags, pubs []*fleet.MQTTPublisher, stdout io.Writer) (simResult, error) {
	var res simResult
	o := fleet.Options{Generators: f.generators, First: f.first, Seed: f.seed, Rate: f.rate,
		Count: f.count, Duration: f.duration, Bare: f.bare}
	var lw *fleet.LogWriter
	if f.log != "" {
		file, err := os.Create(f.log)
		if err != nil {
			closeAll(pubs, 0)
			return res, fmt.Errorf("published log: %w", err)
		}
		defer file.Close()
		lw = fleet.NewLogWriter(file)
		o.Recorder = lw
	}
	fl, err := fleet.New(o, asPublishers(pubs)...)
	if err != nil {
		closeAll(pubs, 0)
		return res, err
	}
	stop := printStats(stdout, f.statsEvery, fl.Stats)
	runErr := fl.Run(ctx)
	stop()
	res.closeErr = closeAll(pubs, f.drain)
	for _, p := range pubs {
		res.republished += p.Stats().Republished
	}
	res.stats, res.summary = fl.Stats(), fl.Summary()
	return res, errors.Join(runErr, writeOutputs(f, res.summary, lw))
}

func asPublishers(pubs []*fleet.MQTTPublisher) []fleet.Publisher {
	out := make([]fleet.Publisher, len(pubs))
	for i, p := range pubs {
		out[i] = p
	}
	return out
}

func writeOutputs(f runFlags, s fleet.Summary, lw *fleet.LogWriter) error {
	if lw != nil {
		if err := lw.Flush(); err != nil {
			return fmt.Errorf("published log: %w", err)
		}
	}
	if f.summary == "" {
		return nil
	}
	file, err := os.Create(f.summary)
	if err != nil {
		return fmt.Errorf("summary: %w", err)
	}
	defer file.Close()
	return s.WriteJSON(file)
}

// printStats prints the fleet counters every interval until stop is called.
func printStats(w io.Writer, every time.Duration, stats func() fleet.Stats) (stop func()) {
	if every <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		var last fleet.Stats
		for {
			select {
			case <-done:
				return
			case <-t.C:
				s := stats()
				fmt.Fprintf(w, "published %d (%.0f/s), acknowledged %d, in flight %d\n",
					s.Published, float64(s.Published-last.Published)/every.Seconds(), s.Acked, s.Published-s.Acked)
				last = s
			}
		}
	}()
	return func() { close(done); <-finished }
}
