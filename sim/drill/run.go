package drill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	agentclock "github.com/edgespool/edgespool/agent/clock"
	"github.com/edgespool/edgespool/sim/fleet"
)

// Options configure Run; zero values mean the defaults in brackets.
type Options struct {
	// Dir receives the published log, the command log, the record and the
	// report [a new edgespool-drill-* directory in the working directory].
	Dir    string
	Out    io.Writer    // live lines and the summary [os.Stdout]
	Logger *slog.Logger // component logs [discarded]
	// Agent and Broker replace the drill file's commands (for programs
	// that run the agent or the broker themselves).
	Agent, Broker Control
	// Scale is recorded (the caller scales the drill with Drill.Scale).
	Scale float64
}

func (o Options) withDefaults() (Options, error) {
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Scale == 0 {
		o.Scale = 1
	}
	if o.Dir == "" {
		d, err := os.MkdirTemp(".", "edgespool-drill-")
		if err != nil {
			return o, fmt.Errorf("drill directory: %w", err)
		}
		o.Dir = d
	}
	return o, os.MkdirAll(o.Dir, 0o755)
}

// Files in Options.Dir.
const (
	PublishedFile = "published.csv"
	CommandsFile  = "commands.log"
	RecordFile    = "record.json"
	ReportFile    = "report.html"
)

// runner is one drill run.
type runner struct {
	d     *Drill
	o     Options
	plan  Plan
	start time.Time

	links         map[string]Breaker
	agent, broker Control
	probe         probe
	fl            *fleet.Fleet
	cmdLog        *os.File

	outMu     sync.Mutex // serialises lines on Options.Out
	mu        sync.Mutex
	linkState map[string]string // what the drill did to each link
	events    []Event
	samples   []Sample
	counts    *counters
}

// Run runs the drill: it publishes the fleet, plays the timeline, samples
// the agent every SampleEvery, waits for the backlog to drain, verifies
// the sinks and writes the record and the report into Options.Dir. The
// returned record's Verdict says whether anything acknowledged was lost.
func Run(ctx context.Context, d *Drill, o Options) (*Record, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &runner{d: d, o: o, plan: d.Plan(), probe: newProbe(d.Site.Agent.URL),
		linkState: map[string]string{}, counts: newCounters()}
	if r.cmdLog, err = os.OpenFile(filepath.Join(o.Dir, CommandsFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
		return nil, fmt.Errorf("command log: %w", err)
	}
	defer r.cmdLog.Close()
	r.agent, r.broker = o.Agent, o.Broker
	if r.agent == nil {
		r.agent = Commands{Name: "agent", P: d.Site.Agent, Log: r.cmdLog}
	}
	if r.broker == nil {
		r.broker = Commands{Name: "broker", P: d.Site.Broker, Log: r.cmdLog}
	}
	links, stopLinks, err := openLinks(d.Site.Links, o.Logger)
	if err != nil {
		return nil, err
	}
	defer stopLinks()
	r.links = links
	for name := range links {
		r.linkState[name] = "up"
	}
	rec := &Record{Drill: d.Name, Fleet: d.Fleet, Plan: r.plan, Meta: r.meta(ctx)}
	if err := r.waitAgent(ctx, d.Site.Agent.ReadyWait); err != nil {
		return nil, err
	}
	r.describe()
	runErr := r.exercise(ctx, rec)
	rec.Events, rec.Samples = r.events, r.samples
	rec.Meta.Ended = time.Now().UTC()
	if runErr != nil && rec.Verdict.Steps == nil {
		rec.Verdict.Reasons = append(rec.Verdict.Reasons, "drill did not finish: "+runErr.Error())
	}
	writeErr := r.write(rec)
	return rec, errors.Join(runErr, writeErr)
}

// exercise publishes, plays the faults, drains and verifies.
func (r *runner) exercise(ctx context.Context, rec *Record) error {
	pubs, err := r.dial(ctx)
	if err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(r.o.Dir, PublishedFile))
	if err != nil {
		closePubs(pubs, 0)
		return fmt.Errorf("published log: %w", err)
	}
	defer logf.Close()
	lw := fleet.NewLogWriter(logf)
	f := r.d.Fleet
	r.fl, err = fleet.New(fleet.Options{Generators: f.Generators, First: f.First, Seed: f.Seed, Rate: f.Rate,
		Duration: r.d.Duration, Recorder: lw, Logger: r.o.Logger}, pubs...)
	if err != nil {
		closePubs(pubs, 0)
		return err
	}
	r.start = time.Now()
	rec.Meta.Started = r.start.UTC()
	stopSampling := r.sampleEvery(ctx)
	defer stopSampling()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); r.play(ctx) }()
	runErr := r.fl.Run(ctx)
	closeErr := closePubs(pubs, time.Minute)
	wg.Wait()
	var republished uint64
	for _, p := range pubs {
		republished += p.(*fleet.MQTTPublisher).Stats().Republished
	}
	r.note("publishing done", fmt.Sprintf("%d messages sent again by the simulator (after a reconnect or an acknowledgement timeout)", republished))
	if err := errors.Join(runErr, lw.Flush()); err != nil || ctx.Err() != nil {
		return errors.Join(err, ctx.Err())
	}
	if closeErr != nil {
		r.note("publisher close", closeErr.Error())
	}
	r.recover(ctx)
	sum := r.fl.Summary()
	rec.Summary = sum
	v, err := r.verdict(ctx, sum)
	rec.Verdict = v
	return err
}

// waitAgent waits until the agent answers /readyz.
func (r *runner) waitAgent(ctx context.Context, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for !r.probe.ready(ctx) {
		if time.Now().After(deadline) {
			return fmt.Errorf("agent at %s not ready after %v (is it running? is site.agent.url its http.listen?)", r.probe.base, wait)
		}
		if !sleepCtx(ctx, 200*time.Millisecond) {
			return ctx.Err()
		}
	}
	return nil
}

func (r *runner) describe() {
	d := r.d
	r.println(fmt.Sprintf("drill %q: %d generators at %v readings/s for %v, QoS %d; %d faults; output in %s",
		d.Name, d.Fleet.Generators, d.Fleet.Rate, d.Duration, d.Fleet.QoS, len(r.plan.Steps)-1, r.o.Dir))
	for _, s := range r.plan.Steps[1:] {
		r.println(fmt.Sprintf("  at %-8v %s", s.Start, s.Label))
	}
}

func (r *runner) dial(ctx context.Context) ([]fleet.Publisher, error) {
	f, b := r.d.Fleet, r.d.Site.Broker
	n := min(f.Generators, 50)
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var pubs []fleet.Publisher
	for i := 1; i <= n; i++ {
		p, err := fleet.DialMQTT(dctx, fleet.MQTTOptions{Broker: b.URL, ClientID: fmt.Sprintf("%s-%d", f.ClientID, i),
			Username: b.Username, Password: b.Password, QoS0: f.QoS == 0, Window: f.Window, Logger: r.o.Logger})
		if err != nil {
			closePubs(pubs, 0)
			return nil, fmt.Errorf("fleet: %w", err)
		}
		pubs = append(pubs, p)
	}
	return pubs, nil
}

// closePubs waits up to drain for acknowledgements and disconnects.
func closePubs(pubs []fleet.Publisher, drain time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	var errs []error
	for _, p := range pubs {
		errs = append(errs, p.(*fleet.MQTTPublisher).Close(ctx))
	}
	return errors.Join(errs...)
}

// elapsed is the time since the drill started publishing.
func (r *runner) elapsed() time.Duration { return time.Since(r.start) }

// sleepCtx sleeps d; false when ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	return agentclock.Sleep(ctx, nil, d) == nil
}

// println writes one line of the live output (the sampler and the
// timeline write concurrently).
func (r *runner) println(line string) {
	r.outMu.Lock()
	defer r.outMu.Unlock()
	fmt.Fprintln(r.o.Out, line)
}
