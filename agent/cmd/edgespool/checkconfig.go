package main

import (
	"fmt"
	"io"
	"strings"
)

func cmdCheckConfig(args []string, stdout, stderr io.Writer) error {
	cfg, path, err := loadConfig("check-config", args, stderr)
	if err != nil {
		return err
	}
	sinks := "none"
	switch {
	case cfg.Kafka.Enabled && cfg.InfluxDB.Enabled:
		sinks = "kafka, influxdb"
	case cfg.Kafka.Enabled:
		sinks = "kafka"
	case cfg.InfluxDB.Enabled:
		sinks = "influxdb"
	}
	intake := "broker " + cfg.MQTT.Broker
	if cfg.Broker.Enabled() {
		intake = "embedded broker on " + strings.Join(cfg.Broker.Listen, " ")
	}
	fmt.Fprintf(stdout, "%s: ok (%s, spool %s, cap %s, sinks: %s, downsample: %v)\n",
		path, intake, cfg.Spool.Path, cfg.Spool.MaxBytes, sinks, cfg.Downsample.Enabled)
	return nil
}
