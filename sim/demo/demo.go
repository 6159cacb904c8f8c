package demo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/edgespool/edgespool/sim/fleet"
	"github.com/edgespool/edgespool/sim/verify"
)

// Result is the outcome of a demo run.
type Result struct {
	Summary       fleet.Summary
	Report        verify.Report
	BrokerDropped int64
	Influx        bool // the InfluxDB sink took part
}

// OK reports whether the verifier passed and every window was emitted.
func (r Result) OK() bool {
	if !r.Report.OK() {
		return false
	}
	for _, d := range r.Report.Down {
		if d.Pending > 0 {
			return false
		}
	}
	return true
}

// Run runs the demo with the agent started by start.
func Run(ctx context.Context, o Options, start StartFunc) (Result, error) {
	o = o.withDefaults()
	dir, cleanup, err := workDir(o.Dir)
	if err != nil {
		return Result{}, err
	}
	defer cleanup()
	in, err := startInfra(ctx, o, dir)
	if err != nil {
		return Result{}, err
	}
	defer in.stop()
	in.describe(o.Out)
	agent, err := start(ctx, in.env)
	if err != nil {
		return Result{}, fmt.Errorf("start agent: %w", err)
	}
	res, err := runWithAgent(ctx, o, in, agent)
	stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if serr := agent.Stop(stopCtx); serr != nil && !errors.Is(serr, context.Canceled) {
		err = errors.Join(err, fmt.Errorf("agent: %w", serr))
	}
	return res, err
}

func workDir(dir string) (string, func(), error) {
	if dir != "" {
		return dir, func() {}, os.MkdirAll(dir, 0o755)
	}
	d, err := os.MkdirTemp("", "edgespool-demo-")
	if err != nil {
		return "", nil, fmt.Errorf("demo directory: %w", err)
	}
	return d, func() { os.RemoveAll(d) }, nil
}

func runWithAgent(ctx context.Context, o Options, in *infra, agent Agent) (Result, error) {
	res := Result{Influx: in.influx != nil}
	logPath := filepath.Join(in.env.Dir, "published.csv")
	fmt.Fprintf(o.Out, "publishing: %d generators at %v readings/s each for %v (QoS 1, seq and time in every payload); uplink cut at %v for %v\n",
		o.Generators, o.Rate, o.Duration, o.CutAt, o.CutFor)
	sum, err := publish(ctx, o, in, agent, logPath)
	res.Summary, res.BrokerDropped = sum, in.broker.dropped()
	if err != nil {
		return res, err
	}
	exp := verify.ExpectSummary(sum)
	if err := loadLog(&exp, logPath); err != nil {
		return res, err
	}
	var fs fleet.Stats
	for _, d := range sum.Devices {
		fs.Published += d.Published
		fs.Acked += d.Acked
	}
	res.Report, err = drain(ctx, o, in, agent, exp, fs)
	printVerdict(o.Out, o, res)
	return res, err
}

func loadLog(exp *verify.Expect, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("published log: %w", err)
	}
	defer f.Close()
	return exp.AddLog(f)
}

// publish runs the fleet with the cut timeline and the status line.
func publish(ctx context.Context, o Options, in *infra, agent Agent, logPath string) (fleet.Summary, error) {
	url := in.env.MQTT
	if in.env.Listen != "" {
		url = "tcp://" + in.env.Listen
	}
	pubs, err := dial(ctx, o, url)
	if err != nil {
		return fleet.Summary{}, err
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return fleet.Summary{}, fmt.Errorf("published log: %w", err)
	}
	defer logf.Close()
	lw := fleet.NewLogWriter(logf)
	fl, err := fleet.New(fleet.Options{Generators: o.Generators, Rate: o.Rate, Duration: o.Duration,
		Seed: o.Seed, Recorder: lw, Logger: o.Logger}, pubs...)
	if err != nil {
		return fleet.Summary{}, err
	}
	var st cutState
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); timeline(ctx, o.Out, in.links(), o.CutAt, o.CutFor, &st) }()
	began := time.Now()
	stop := ticker(o.Every, func() { statusLine(o.Out, time.Since(began), fl.Stats(), in.counters(agent), st.cut.Load()) })
	runErr := fl.Run(ctx)
	closeErr := closePubs(pubs)
	wg.Wait() // the link is restored before the drain starts
	stop()
	return fl.Summary(), errors.Join(runErr, closeErr, lw.Flush())
}

func dial(ctx context.Context, o Options, broker string) ([]fleet.Publisher, error) {
	var pubs []fleet.Publisher
	for i := 1; i <= o.Generators; i++ {
		p, err := fleet.DialMQTT(ctx, fleet.MQTTOptions{Broker: broker, ClientID: fmt.Sprintf("demo-generator%d", i), Logger: o.Logger})
		if err != nil {
			closePubs(pubs)
			return nil, err
		}
		pubs = append(pubs, p)
	}
	return pubs, nil
}

func closePubs(pubs []fleet.Publisher) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	for _, p := range pubs {
		errs = append(errs, p.(*fleet.MQTTPublisher).Close(ctx))
	}
	return errors.Join(errs...)
}
