package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/edgespool/edgespool/agent"
	"github.com/edgespool/edgespool/agent/buildinfo"
	"github.com/edgespool/edgespool/agent/config"
	"github.com/edgespool/edgespool/agent/logging"
	"github.com/edgespool/edgespool/agent/sdnotify"
)

const defaultConfig = "/etc/edgespool/edgespool.yaml"

// cmdRun runs the agent until SIGTERM or SIGINT. Under systemd
// (Type=notify) it reports READY=1 once it takes data, RELOADING=1/READY=1
// around a SIGHUP reload, STOPPING=1 at shutdown and WATCHDOG=1 while
// healthy.
func cmdRun(args []string, _, stderr io.Writer) error {
	fs := newFlags("run", "run [-config FILE]", stderr)
	path := fs.String("config", defaultConfig, "configuration file")
	if err := parse(fs, args); err != nil {
		return err
	}
	// The same checks as check-config, before anything starts.
	cfg, err := loadChecked(*path, stderr)
	if err != nil {
		return err
	}
	log, err := logging.New(cfg.Log.Format, cfg.Log.Level, cfg.Log.File)
	if err != nil {
		return err
	}
	defer log.Close()
	log.Info("starting", "build", buildinfo.Get().String(), "config", *path, "client_id", cfg.MQTT.ClientID)
	n := sdnotify.FromEnv()
	a := agent.New(cfg, log.Logger)
	a.SetNotifier(n)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	h := signalHandler{stop: cancel, log: log, path: *path, agent: a, notifier: n}
	go h.run(sigs)
	if err := a.Run(ctx); err != nil {
		log.Error("agent failed", "err", err)
		return err
	}
	return nil
}

// signalHandler: SIGTERM/SIGINT start a graceful stop, a second one exits
// at once; SIGHUP reloads the configuration.
type signalHandler struct {
	stop     context.CancelFunc
	log      *logging.Logger
	path     string
	agent    *agent.Agent
	notifier agent.Notifier
}

// run handles signals for the life of the process.
func (h signalHandler) run(sigs <-chan os.Signal) {
	stopping := false
	for sig := range sigs {
		switch {
		case sig == syscall.SIGHUP:
			h.reload()
		case stopping:
			h.log.Warn("second signal: exiting at once", "signal", sig.String())
			os.Exit(1)
		default:
			stopping = true
			h.log.Info("signal received: stopping (send again to exit at once)", "signal", sig.String())
			h.stop()
		}
	}
}

// reload re-reads the configuration file: the log file is reopened (after
// logrotate), what can change live changes, and the changed keys that need
// a restart are named. An invalid file leaves the running configuration.
func (h signalHandler) reload() {
	h.notify(sdnotify.Reloading())
	defer h.notify(agent.StateReady)
	cfg, err := config.Load(h.path)
	if err != nil {
		if err := h.log.Reopen(); err != nil {
			fmt.Fprintln(os.Stderr, "edgespool: reopen log:", err)
		}
		h.log.Error("config not reloaded; the running configuration stays", "config", h.path, "err", err)
		return
	}
	if err := h.log.Reload(cfg.Log.Level); err != nil { // logs the new level itself
		fmt.Fprintln(os.Stderr, "edgespool: reopen log:", err)
	}
	restart := h.agent.Reload(cfg)
	h.log.Info("config reloaded", "restart_needed", "["+strings.Join(restart, ",")+"]")
}

func (h signalHandler) notify(state string) {
	if err := h.notifier.Notify(state); err != nil {
		h.log.Warn("service manager notification failed", "err", err)
	}
}
