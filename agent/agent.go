package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/edgespool/edgespool/agent/broker"
	"github.com/edgespool/edgespool/agent/buildinfo"
	"github.com/edgespool/edgespool/agent/clock"
	"github.com/edgespool/edgespool/agent/config"
	"github.com/edgespool/edgespool/agent/httpapi"
	"github.com/edgespool/edgespool/agent/intake"
	"github.com/edgespool/edgespool/agent/model"
	"github.com/edgespool/edgespool/spool"
	"github.com/edgespool/edgespool/uplink"
)

// intakeFlushTimeout bounds the intake's last group commit at stop.
const intakeFlushTimeout = 10 * time.Second

// Agent is one running edgespool daemon.
type Agent struct {
	cfg      config.Config
	log      *slog.Logger
	reg      *prometheus.Registry
	notifier Notifier
	// clk is the one clock of every component the agent starts.
	clk  clock.Clock
	live atomic.Pointer[liveSettings]

	// mu guards what the stages set while /status may read it.
	mu       sync.Mutex
	started  time.Time
	alarmPub *alarmPublisher // nil without local alarms
	sp       *spool.Spool
	in       *intake.Intake
	fwds     []*uplink.Forwarder
	http     *httpapi.Server
	broker   *broker.Broker // broker mode only
}

// New prepares an agent; Run starts it.
func New(cfg config.Config, log *slog.Logger) *Agent {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildinfo.Collector())
	a := &Agent{cfg: cfg, log: log, reg: reg, notifier: nopNotifier{}, clk: clock.Real{}}
	a.live.Store(newLiveSettings(cfg))
	return a
}

// SetNotifier sends the agent's state changes (ready, stopping, watchdog)
// to n, the service manager; call it before Run.
func (a *Agent) SetNotifier(n Notifier) { a.notifier = n }

// Registry is the agent's own metrics registry.
func (a *Agent) Registry() *prometheus.Registry { return a.reg }

// stages are the parts of the agent in start order, outputs before inputs;
// they stop in the reverse order. Broker mode replaces the MQTT session
// with the embedded broker, and starts its listeners only after the intake
// (see the package doc).
func (a *Agent) stages() []stage {
	if a.cfg.Broker.Enabled() {
		return []stage{
			{"spool", a.spoolStage},
			{"http", a.observeStage},
			{"uplinks", a.uplinkStage},
			{"broker", a.brokerStage},
			{"downsample", a.downsampleStage},
			{"intake", a.intakeStage},
			{"broker listeners", a.listenStage},
			{"supervisor", a.superviseStage},
		}
	}
	return []stage{
		{"spool", a.spoolStage},
		{"http", a.observeStage},
		{"uplinks", a.uplinkStage},
		{"mqtt session", a.sessionStage},
		{"downsample", a.downsampleStage},
		{"intake", a.intakeStage},
		{"supervisor", a.superviseStage},
	}
}

// Run starts every stage, blocks until ctx ends or a part fails, then stops
// the stages in reverse and returns the first error. No goroutine of the
// agent outlives Run.
func (a *Agent) Run(ctx context.Context) error {
	a.mu.Lock()
	a.started = a.clk.Now()
	a.mu.Unlock()
	defer debug.SetMemoryLimit(applyMemoryLimit(a.cfg.MemoryLimit, a.log))
	r := newRunner(ctx, a.log)
	err := r.start(a.stages())
	if err == nil {
		a.logRunning()
		<-r.failed.Done()
	}
	a.notify(StateStopping)
	a.log.Info("shutting down")
	err = errors.Join(err, r.stop())
	a.log.Info("stopped")
	return err
}

// spoolStage opens the spool; it closes after every other stage stopped.
func (a *Agent) spoolStage() ([]named, error) {
	sp, err := spool.Open(a.cfg.Spool.Path, a.spoolOptions())
	if err != nil {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	a.mu.Lock()
	a.sp = sp
	a.mu.Unlock()
	return []named{{"spool", RunFunc(func(ctx context.Context) error {
		<-ctx.Done()
		if err := sp.Close(); err != nil {
			return fmt.Errorf("close spool: %w", err)
		}
		return nil
	})}}, nil
}

// observeStage starts the HTTP endpoint and the spool monitor.
func (a *Agent) observeStage() ([]named, error) {
	comps := []named{{"spool monitor", &spoolMonitor{sp: a.sp, log: a.log}}}
	if a.cfg.HTTP.Listen == "" {
		return comps, nil
	}
	srv, err := httpapi.Listen(a.cfg.HTTP.Listen, httpapi.Options{Gatherer: a.reg, Ready: a.Ready,
		Status: func() any { return a.Status() }, Logger: a.log.With("component", "http")})
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.http = srv
	a.mu.Unlock()
	return append(comps, named{"http", srv}), nil
}

// sessionStage prepares the MQTT client shared by the intake and the alarm
// publisher; it disconnects after both stopped.
func (a *Agent) sessionStage() ([]named, error) {
	o, err := a.intakeOptions()
	if err != nil {
		return nil, err
	}
	in, err := intake.New(a.sp, o)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.in = in
	a.mu.Unlock()
	return []named{{"mqtt session", RunFunc(func(ctx context.Context) error {
		<-ctx.Done()
		in.Close()
		return nil
	})}}, nil
}

// intakeStage seeds the duplicate detection and starts taking messages:
// the commit loop runs (and, subscribing, the connection starts) before the
// next stage begins, so that the broker listeners of broker mode only
// accept devices once their PUBLISHes can be committed. At stop the intake
// stops taking messages and flushes its last group commit, acknowledging
// what is durable.
func (a *Agent) intakeStage() ([]named, error) {
	n, err := seedIntake(a.sp, a.in)
	if err != nil {
		return nil, fmt.Errorf("seed duplicate detection: %w", err)
	}
	a.log.Debug("duplicate detection seeded from the spool", "readings", n)
	// The intake outlives its stage's context: Drain ends it.
	if err := a.in.Start(context.Background()); err != nil {
		return nil, err
	}
	return []named{{"intake", RunFunc(func(ctx context.Context) error {
		<-ctx.Done()
		flush, cancel := context.WithTimeout(context.Background(), intakeFlushTimeout)
		defer cancel()
		return a.in.Drain(flush)
	})}}, nil
}

// spoolOptions maps the spool section onto the spool's Options.
func (a *Agent) spoolOptions() spool.Options {
	sc := a.cfg.Spool
	o := spool.Options{MaxBytes: int64(sc.MaxBytes), MaxAge: sc.MaxAge, Consumers: a.consumers(),
		KeepDelivered:    map[string]uint64{model.StreamRaw: seedTail},
		CommitMaxRecords: sc.CommitMaxRecords, CommitMaxDelay: sc.CommitMaxDelay, NoSync: sc.NoSync,
		Logger: a.log, Registerer: a.reg, Now: a.clk.Now} // the spool adds component=spool itself
	if sc.Overflow == "reject_new" {
		o.Overflow = spool.RejectNew
	}
	return o
}
