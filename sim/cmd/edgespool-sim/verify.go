package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/edgespool/edgespool/sim/fleet"
	"github.com/edgespool/edgespool/sim/verify"
)

// errVerifyFailed makes verify exit 1 after printing its report.
var errVerifyFailed = fmt.Errorf("loss, disorder or wrong data found")

type verifyFlags struct {
	kafka, rawTopic, downTopic, saslMech, saslUser, saslPass   string
	kafkaTLS                                                   bool
	influx, influxUser, influxPass, influxToken, rawDB, downDB string
	summary, log                                               string
	generators                                                 int
	count                                                      uint64
	window, timeout                                            time.Duration
	region                                                     string
	noDown, jsonOut                                            bool
}

func (f *verifyFlags) register(fs interface {
	StringVar(*string, string, string, string)
	IntVar(*int, string, int, string)
	Uint64Var(*uint64, string, uint64, string)
	DurationVar(*time.Duration, string, time.Duration, string)
	BoolVar(*bool, string, bool, string)
}) {
	fs.StringVar(&f.kafka, "kafka", "", "Kafka bootstrap brokers, comma separated (empty: skip Kafka)")
	fs.StringVar(&f.rawTopic, "raw-topic", verify.DefaultRawTopic, "Kafka topic of raw readings")
	fs.StringVar(&f.downTopic, "down-topic", verify.DefaultDownTopic, "Kafka topic of downsampled points")
	fs.StringVar(&f.saslMech, "kafka-sasl", "", "Kafka SASL mechanism: plain, scram-sha-256, scram-sha-512")
	fs.StringVar(&f.saslUser, "kafka-user", "", "Kafka SASL user")
	fs.StringVar(&f.saslPass, "kafka-password", os.Getenv("EDGESPOOL_SIM_KAFKA_PASSWORD"), "Kafka SASL password (default $EDGESPOOL_SIM_KAFKA_PASSWORD)")
	fs.BoolVar(&f.kafkaTLS, "kafka-tls", false, "connect to Kafka with TLS (system roots)")
	fs.StringVar(&f.influx, "influx", "", "InfluxDB URL, e.g. http://127.0.0.1:8086 (empty: skip InfluxDB)")
	fs.StringVar(&f.influxUser, "influx-user", "", "InfluxDB 1.x user")
	fs.StringVar(&f.influxPass, "influx-password", os.Getenv("EDGESPOOL_SIM_INFLUX_PASSWORD"), "InfluxDB 1.x password (default $EDGESPOOL_SIM_INFLUX_PASSWORD)")
	fs.StringVar(&f.influxToken, "influx-token", os.Getenv("EDGESPOOL_SIM_INFLUX_TOKEN"), "InfluxDB 2.x token (v1 /query compatibility; default $EDGESPOOL_SIM_INFLUX_TOKEN)")
	fs.StringVar(&f.rawDB, "raw-db", verify.DefaultRawDB, "InfluxDB database (or mapped bucket) of raw readings")
	fs.StringVar(&f.downDB, "down-db", verify.DefaultDownDB, "InfluxDB database (or mapped bucket) of downsampled points")
	fs.StringVar(&f.summary, "summary", "", "expected set: summary file written by run -summary")
	fs.StringVar(&f.log, "log", "", "expected set: published log written by run -log (also identifies InfluxDB points)")
	fs.IntVar(&f.generators, "generators", 0, "expected set without files: generators 1..N ...")
	fs.Uint64Var(&f.count, "count", 0, "... each with seq 1..count")
	fs.DurationVar(&f.window, "window", time.Minute, "downsample window")
	fs.StringVar(&f.region, "region", verify.DefaultRegion, "expected region tag of downsampled points")
	fs.BoolVar(&f.noDown, "no-down", false, "skip the downsampled checks")
	fs.BoolVar(&f.jsonOut, "json", false, "print the report as JSON")
	fs.DurationVar(&f.timeout, "timeout", 2*time.Minute, "give up reading a sink after this long")
}

func verifyCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f verifyFlags
	fs := newFlags("verify", "verify (-summary FILE | -log FILE | -generators N -count M) [-kafka BROKERS] [-influx URL] [flags]", stderr)
	f.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := f.config()
	if err != nil {
		return err
	}
	rep, err := verify.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if err := printReport(stdout, rep, f.jsonOut); err != nil {
		return err
	}
	if !rep.OK() {
		return errVerifyFailed
	}
	return nil
}

func printReport(w io.Writer, rep verify.Report, asJSON bool) error {
	if !asJSON {
		rep.WriteText(w)
		return nil
	}
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(struct {
		OK bool `json:"ok"`
		verify.Report
	}{rep.OK(), rep})
}

func (f verifyFlags) config() (verify.Config, error) {
	exp, err := f.expect()
	if err != nil {
		return verify.Config{}, err
	}
	if f.kafka == "" && f.influx == "" {
		return verify.Config{}, fmt.Errorf("%w: give -kafka and/or -influx", errUsage)
	}
	cfg := verify.Config{Expect: exp, RawTopic: f.rawTopic, DownTopic: f.downTopic, RawDB: f.rawDB, DownDB: f.downDB,
		Down: verify.DownOptions{Window: f.window, Region: f.region}, NoDown: f.noDown}
	if f.kafka != "" {
		cfg.Kafka = verify.KafkaOptions{Brokers: strings.Split(f.kafka, ","), Timeout: f.timeout}
		if cfg.Kafka.Opts, err = f.saslOpts(); err != nil {
			return cfg, err
		}
		if f.kafkaTLS {
			cfg.Kafka.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
		}
	}
	if f.influx != "" {
		cfg.Influx = verify.InfluxOptions{URL: strings.TrimRight(f.influx, "/"), Username: f.influxUser,
			Password: f.influxPass, Token: f.influxToken, Timeout: f.timeout}
	}
	return cfg, nil
}

func (f verifyFlags) saslOpts() ([]kgo.Opt, error) {
	switch strings.ToLower(f.saslMech) {
	case "":
		return nil, nil
	case "plain":
		return []kgo.Opt{kgo.SASL(plain.Auth{User: f.saslUser, Pass: f.saslPass}.AsMechanism())}, nil
	case "scram-sha-256":
		return []kgo.Opt{kgo.SASL(scram.Auth{User: f.saslUser, Pass: f.saslPass}.AsSha256Mechanism())}, nil
	case "scram-sha-512":
		return []kgo.Opt{kgo.SASL(scram.Auth{User: f.saslUser, Pass: f.saslPass}.AsSha512Mechanism())}, nil
	}
	return nil, fmt.Errorf("%w: -kafka-sasl %q: want plain, scram-sha-256 or scram-sha-512", errUsage, f.saslMech)
}

// expect builds the expected set from the files or the counts given.
func (f verifyFlags) expect() (verify.Expect, error) {
	var exp verify.Expect
	switch {
	case f.summary != "":
		file, err := os.Open(f.summary)
		if err != nil {
			return exp, err
		}
		defer file.Close()
		s, err := fleet.ReadSummary(file)
		if err != nil {
			return exp, err
		}
		exp = verify.ExpectSummary(s)
	case f.generators > 0 && f.count > 0:
		exp = verify.ExpectCounts(f.generators, f.count)
	case f.log == "":
		return exp, fmt.Errorf("%w: give -summary, -log, or -generators and -count", errUsage)
	}
	if f.log != "" {
		file, err := os.Open(f.log)
		if err != nil {
			return exp, err
		}
		defer file.Close()
		if err := exp.AddLog(file); err != nil {
			return exp, err
		}
	}
	return exp, nil
}
