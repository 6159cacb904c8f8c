package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/edgespool/edgespool/agent/broker"
	"github.com/edgespool/edgespool/agent/config"
	"github.com/edgespool/edgespool/agent/httpapi"
	"github.com/edgespool/edgespool/agent/intake"
	"github.com/edgespool/edgespool/spool"
	"github.com/edgespool/edgespool/uplink"
)

// Agent is one running edgespool daemon.
type Agent struct {
	cfg     config.Config
	log     *slog.Logger
	reg     *prometheus.Registry
	started time.Time

	sp      *spool.Spool
	in      *intake.Intake
	fwds    []*uplink.Forwarder
	fwdRun  *fwdRun
	dsStop  func()
	dsDone  chan struct{}
	sinks   []uplink.Sink
	http    *httpapi.Server
	monitor *spoolMonitor
	broker  *broker.Broker // broker mode only
}

// New prepares an agent; Run starts it.
func New(cfg config.Config, log *slog.Logger) *Agent {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &Agent{cfg: cfg, log: log, reg: reg}
}

// Registry is the agent's own metrics registry.
func (a *Agent) Registry() *prometheus.Registry { return a.reg }

// Run starts every part (outputs first), blocks until ctx ends, then stops
// every part (inputs first) and returns the first error of the shutdown.
func (a *Agent) Run(ctx context.Context) error {
	a.started = time.Now()
	if err := a.start(ctx); err != nil {
		a.closeAll()
		return err
	}
	a.log.Info("edgespool running", "spool", a.cfg.Spool.Path, "broker", config.RedactURL(a.cfg.MQTT.Broker),
		"sinks", len(a.sinks), "forwarders", len(a.fwds))
	<-ctx.Done()
	return a.shutdown()
}

func (a *Agent) start(ctx context.Context) error {
	var err error
	if a.sp, err = a.openSpool(); err != nil {
		return err
	}
	if a.in, err = a.newIntake(); err != nil {
		return err
	}
	if err = a.startHTTP(); err != nil {
		return err
	}
	a.monitor = startSpoolMonitor(a.sp, a.log)
	if err = a.startForwarders(); err != nil {
		return err
	}
	if err = a.startDownsample(); err != nil {
		return fmt.Errorf("downsample: %w", err)
	}
	return a.startIntake(ctx)
}

func (a *Agent) spoolOptions() spool.Options {
	sc := a.cfg.Spool
	o := spool.Options{MaxBytes: int64(sc.MaxBytes), MaxAge: sc.MaxAge, Consumers: a.consumers(),
		CommitMaxRecords: sc.CommitMaxRecords, CommitMaxDelay: sc.CommitMaxDelay, NoSync: sc.NoSync,
		Logger: a.log.With("component", "spool"), Registerer: a.reg}
	if sc.Overflow == "reject_new" {
		o.Overflow = spool.RejectNew
	}
	return o
}

func (a *Agent) openSpool() (*spool.Spool, error) {
	sp, err := spool.Open(a.cfg.Spool.Path, a.spoolOptions())
	if err != nil {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	return sp, nil
}

func (a *Agent) startIntake(ctx context.Context) error {
	n, err := seedIntake(a.sp, a.in)
	if err != nil {
		return fmt.Errorf("seed duplicate detection: %w", err)
	}
	a.log.Debug("duplicate detection seeded from the spool", "readings", n)
	// The intake outlives ctx: Stop flushes it during shutdown.
	if err := a.in.Start(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	return a.startBroker(ctx)
}

// shutdown stops inputs first and returns the first error.
func (a *Agent) shutdown() error {
	a.log.Info("shutting down")
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if a.in != nil {
		errs = append(errs, a.in.Drain(ctx))
	}
	if a.dsStop != nil {
		a.dsStop() // publishes the alarms still pending over the open session
	}
	if a.in != nil {
		a.in.Close()
	}
	a.drainForwarders(a.cfg.Uplink.DrainTimeout)
	errs = append(errs, a.closeAll())
	a.log.Info("stopped")
	return errors.Join(errs...)
}

// closeAll closes sinks, the HTTP endpoint and the spool.
func (a *Agent) closeAll() error {
	errs := []error{a.closeBroker()}
	for _, s := range a.sinks {
		errs = append(errs, s.Close())
	}
	if a.monitor != nil {
		a.monitor.stop()
	}
	if a.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		errs = append(errs, a.http.Shutdown(ctx))
		cancel()
	}
	if a.sp != nil {
		if err := a.sp.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close spool: %w", err))
		}
	}
	return errors.Join(errs...)
}
