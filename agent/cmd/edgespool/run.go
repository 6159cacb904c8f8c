package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/edgespool/edgespool/agent"
	"github.com/edgespool/edgespool/agent/buildinfo"
	"github.com/edgespool/edgespool/agent/config"
	"github.com/edgespool/edgespool/agent/logging"
)

const defaultConfig = "/etc/edgespool/edgespool.yaml"

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
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go handleSignals(cancel, log, *path)
	if err := agent.New(cfg, log.Logger).Run(ctx); err != nil {
		log.Error("agent failed", "err", err)
		return err
	}
	return nil
}

// handleSignals: SIGTERM/SIGINT start a graceful stop, a second one exits
// at once; SIGHUP re-reads log.level from the file and reopens log.file.
func handleSignals(stop context.CancelFunc, log *logging.Logger, path string) {
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	stopping := false
	for sig := range ch {
		switch {
		case sig == syscall.SIGHUP:
			reload(log, path)
		case stopping:
			log.Warn("second signal: exiting at once", "signal", sig.String())
			os.Exit(1)
		default:
			stopping = true
			log.Info("signal received: stopping (send again to exit at once)", "signal", sig.String())
			stop()
		}
	}
}

func reload(log *logging.Logger, path string) {
	cfg, err := config.Load(path)
	if err != nil {
		log.Error("SIGHUP: config not reloaded", "err", err)
		return
	}
	if err := log.Reload(cfg.Log.Level); err != nil {
		fmt.Fprintln(os.Stderr, "edgespool: reopen log:", err)
		return
	}
	log.Info("SIGHUP: log file reopened and log level applied", "level", cfg.Log.Level)
}
