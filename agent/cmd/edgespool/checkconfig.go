package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/edgespool/edgespool/agent"
	"github.com/edgespool/edgespool/agent/config"
)

// errChecksFailed: the file is valid but a connection check failed (the
// results were printed).
var errChecksFailed = errors.New("connection checks failed")

// cmdCheckConfig runs the checks `run` makes before it starts (the same
// code), and with -connect also tries the broker and the enabled sinks.
// Nothing it prints shows a password or token.
func cmdCheckConfig(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("check-config", "check-config [-config FILE] [-connect] [-timeout D]", stderr)
	path := fs.String("config", defaultConfig, "configuration file")
	connect := fs.Bool("connect", false, "also connect to the MQTT broker, Kafka and InfluxDB with the configured credentials")
	timeout := fs.Duration("timeout", 10*time.Second, "per connection check, with -connect")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadChecked(*path, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: ok (%s)\n", *path, summary(cfg))
	if !*connect {
		return nil
	}
	failed := false
	for _, r := range agent.Probe(context.Background(), cfg, *timeout) {
		if r.Err == nil {
			fmt.Fprintf(stdout, "%s %s: ok (%s)\n", r.Name, r.Target, r.Detail)
			continue
		}
		failed = true
		fmt.Fprintf(stdout, "%s %s: error: %v\n", r.Name, r.Target, r.Err)
		if r.Hint != "" {
			fmt.Fprintf(stdout, "  hint: %s\n", r.Hint)
		}
	}
	if failed {
		return errChecksFailed
	}
	return nil
}

// loadChecked loads the file and runs the preflight checks, printing
// warnings to w.
func loadChecked(path string, w io.Writer) (config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return cfg, err
	}
	warnings, err := agent.Preflight(cfg)
	for _, s := range warnings {
		fmt.Fprintln(w, "warning:", s)
	}
	return cfg, config.CheckFile(path, err)
}

func summary(cfg config.Config) string {
	r := cfg.Redacted()
	var sinks []string
	if r.Kafka.Enabled {
		sinks = append(sinks, "kafka "+strings.Join(r.Kafka.Brokers, ","))
	}
	if r.InfluxDB.Enabled {
		sinks = append(sinks, "influxdb "+r.InfluxDB.URL)
	}
	if len(sinks) == 0 {
		sinks = []string{"none"}
	}
	intake := fmt.Sprintf("broker %s, client id %s", r.MQTT.Broker, r.MQTT.ClientID)
	if r.Broker.Enabled() {
		intake = "embedded broker on " + strings.Join(r.Broker.Listen, " ")
	}
	return fmt.Sprintf("%s, spool %s, cap %s, sinks: %s, downsample: %v",
		intake, r.Spool.Path, r.Spool.MaxBytes, strings.Join(sinks, "; "), r.Downsample.Enabled)
}
