package main

import (
	"fmt"
	"io"
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
	fmt.Fprintf(stdout, "%s: ok (broker %s, spool %s, cap %s, sinks: %s, downsample: %v)\n",
		path, cfg.MQTT.Broker, cfg.Spool.Path, cfg.Spool.MaxBytes, sinks, cfg.Downsample.Enabled)
	return nil
}
