package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"golang.org/x/sync/errgroup"
)

// Component is one long-running part of the agent: Run works until ctx
// ends, releases what it holds and returns; an error (other than ctx's)
// stops the whole agent.
type Component interface {
	Run(ctx context.Context) error
}

// RunFunc adapts a function to Component.
type RunFunc func(ctx context.Context) error

// Run calls f.
func (f RunFunc) Run(ctx context.Context) error { return f(ctx) }

// named is a Component with the name its errors carry.
type named struct {
	name string
	Component
}

// stage prepares the components started together: start builds them
// (an error is a failed start) and returns them; they run as soon as it
// returns, before the next stage's start.
type stage struct {
	name  string
	start func() ([]named, error)
}

// runner runs the stages' components in one errgroup and stops them in
// the reverse order of their start, each stage only after every later
// stage has returned.
type runner struct {
	g      *errgroup.Group
	failed context.Context // done when the parent ends or a component fails
	stages []*runningStage
	log    *slog.Logger
}

type runningStage struct {
	name   string
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newRunner(parent context.Context, log *slog.Logger) *runner {
	g, failed := errgroup.WithContext(parent)
	return &runner{g: g, failed: failed, log: log}
}

// start runs each stage in order until one fails to start; it returns
// that error (the stages already running keep running until stop). It
// starts no more stages once the parent ended or a component failed (stop
// returns that component's error).
func (r *runner) start(stages []stage) error {
	for _, s := range stages {
		if r.failed.Err() != nil {
			return nil
		}
		comps, err := s.start()
		if err != nil {
			return fmt.Errorf("start %s: %w", s.name, err)
		}
		r.run(s.name, comps)
	}
	return nil
}

// run starts comps on a context of their own, cancelled by stop.
func (r *runner) run(name string, comps []named) {
	ctx, cancel := context.WithCancel(context.Background())
	rs := &runningStage{name: name, cancel: cancel}
	for _, c := range comps {
		rs.wg.Add(1)
		r.g.Go(func() error {
			defer rs.wg.Done()
			err := c.Run(ctx)
			if err != nil && !errors.Is(err, context.Canceled) {
				r.log.Error("component failed", "component", c.name, "err", err)
				return fmt.Errorf("%s: %w", c.name, err)
			}
			return nil
		})
	}
	r.stages = append(r.stages, rs)
}

// stop cancels the stages from the last started to the first, waiting for
// each, and returns the first error of any component.
func (r *runner) stop() error {
	for i := len(r.stages) - 1; i >= 0; i-- {
		s := r.stages[i]
		r.log.Debug("stopping", "stage", s.name)
		s.cancel()
		s.wg.Wait()
	}
	return r.g.Wait()
}
