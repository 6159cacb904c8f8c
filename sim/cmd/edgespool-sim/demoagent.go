package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/edgespool/edgespool/agent"
	"github.com/edgespool/edgespool/agent/config"
	"github.com/edgespool/edgespool/agent/model"
	"github.com/edgespool/edgespool/sim/demo"
)

// demoConfig is the agent configuration for the demo environment.
func demoConfig(env demo.Env, httpAddr string) config.Config {
	cfg := config.Default()
	if env.Listen != "" { // embedded broker mode
		cfg.Broker.Listen, cfg.Broker.Auth.AllowAnonymous = []string{"tcp://" + env.Listen}, true
	} else {
		cfg.MQTT.Broker, cfg.MQTT.ClientID, cfg.MQTT.Topics = env.MQTT, "edgespool-demo", []string{env.Topic}
	}
	cfg.Spool.Path = filepath.Join(env.Dir, "spool.db")
	cfg.Kafka.Enabled, cfg.Kafka.Brokers = true, env.KafkaBrokers
	cfg.Kafka.RawTopic, cfg.Kafka.DownsampledTopic = env.RawTopic, env.DownTopic
	cfg.InfluxDB.Enabled = env.InfluxURL != ""
	cfg.InfluxDB.URL, cfg.InfluxDB.RawBucket, cfg.InfluxDB.DownsampledBucket = env.InfluxURL, env.RawDB, env.DownDB
	cfg.Uplink.BackoffMax = 2 * time.Second // resume soon after the link returns
	cfg.Downsample.Window = env.Window
	cfg.Downsample.AllowedLateness = time.Second
	cfg.Downsample.IdleGrace = env.IdleClose
	cfg.HTTP.Listen = httpAddr
	return cfg
}

// demoAgent is the real agent, run in-process. Its figures are read from
// its own HTTP /status, as an operator would.
type demoAgent struct {
	cancel context.CancelFunc
	errc   chan error
	base   string
	client *http.Client
}

// startAgent starts the agent and waits until /readyz answers 200.
func startAgent(ctx context.Context, env demo.Env) (demo.Agent, error) {
	httpAddr, err := freeLoopback()
	if err != nil {
		return nil, err
	}
	cfg := demoConfig(env, httpAddr)
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("demo agent config: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a := &demoAgent{cancel: cancel, errc: make(chan error, 1), base: "http://" + httpAddr,
		client: &http.Client{Timeout: 2 * time.Second}}
	go func() { a.errc <- agent.New(cfg, env.Logger).Run(runCtx) }()
	if err := a.waitReady(ctx, 30*time.Second); err != nil {
		a.Stop(context.Background())
		return nil, err
	}
	return a, nil
}

func freeLoopback() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (a *demoAgent) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case err := <-a.errc:
			a.errc <- err
			return fmt.Errorf("agent stopped at start: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if resp, err := a.client.Get(a.base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return errors.New("agent not ready after 30s")
}

// Stop cancels the agent and waits for its shutdown.
func (a *demoAgent) Stop(ctx context.Context) error {
	a.cancel()
	select {
	case err := <-a.errc:
		return err
	case <-ctx.Done():
		return fmt.Errorf("agent shutdown: %w", ctx.Err())
	}
}

// Counters reads /status; on error it returns zeros.
func (a *demoAgent) Counters() demo.Counters {
	var st agent.Status
	resp, err := a.client.Get(a.base + "/status")
	if err != nil {
		return demo.Counters{Links: "status unavailable"}
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return demo.Counters{Links: "status unreadable"}
	}
	return statusCounters(st)
}

// counters: Spooled is the raw stream's last seq; Backlog the raw readings
// not yet confirmed by every sink (the largest sink cursor lag); Forwarded
// the raw readings confirmed by every sink (the smallest count sent).
func statusCounters(st agent.Status) demo.Counters {
	var c demo.Counters
	for _, s := range st.Spool.Streams {
		if s.Name == model.StreamRaw {
			c.Spooled = s.LastSeq
		}
	}
	for _, cs := range st.Spool.Consumers {
		if cs.Stream == model.StreamRaw && cs.Consumer != agent.ConsumerDownsample {
			c.Backlog = max(c.Backlog, cs.LagRecords)
		}
	}
	links := map[string]string{}
	var names []string
	first := true
	for _, s := range st.Sinks {
		if s.Stream == model.StreamRaw && (first || s.Sent < c.Forwarded) {
			c.Forwarded, first = s.Sent, false
		}
		if _, ok := links[s.Sink]; !ok {
			names = append(names, s.Sink)
		}
		links[s.Sink] = s.Link.State.String()
	}
	parts := make([]string, 0, len(names))
	for _, n := range names {
		parts = append(parts, n+" "+links[n])
	}
	c.Links = strings.Join(parts, ", ")
	return c
}
