package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/edgespool/edgespool/agent/config"
)

// Directories the shipped systemd unit lets the service write
// (StateDirectory, LogsDirectory; ProtectSystem=strict makes the rest
// read-only).
const (
	unitStateDir = "/var/lib/edgespool"
	unitLogsDir  = "/var/log/edgespool"
)

// Preflight checks, without creating or changing anything, what Run and
// the daemon's logging need from the host beyond a valid file: the TLS
// certificates and keys load (through the same code the intake and sinks
// use), the log file can be opened, and the spool directory exists or can
// be created and is writable. Problems are *config.FieldError, joined.
// Warnings name settings that work now but not under the shipped systemd
// unit. `edgespool run` and `edgespool check-config` both call it.
func Preflight(cfg config.Config) (warnings []string, err error) {
	var errs []error
	add := func(field string, err error) {
		if err != nil {
			errs = append(errs, &config.FieldError{Field: field, Problem: err.Error()})
		}
	}
	a := New(cfg, slog.New(slog.DiscardHandler))
	if _, secure := tlsBroker(cfg.MQTT.Broker, cfg.MQTT.TLS.Enabled); secure {
		t := cfg.MQTT.TLS
		t.Enabled = true
		errs = append(errs, checkTLS("mqtt.tls", t)...)
	}
	if cfg.Kafka.Enabled {
		errs = append(errs, checkTLS("kafka.tls", cfg.Kafka.TLS)...)
	}
	if cfg.InfluxDB.Enabled {
		errs = append(errs, checkTLS("influxdb.tls", cfg.InfluxDB.TLS)...)
	}
	if len(errs) == 0 { // everything run builds before it opens the spool
		_, err := a.intakeOptions()
		add("mqtt", err)
		sinks, err := a.buildSinks()
		add("sinks", err)
		for _, s := range sinks {
			s.Close()
		}
		if cfg.Downsample.Enabled {
			_, err := a.downsampleOptions().WithDefaults()
			add("downsample", err)
		}
	}
	add("spool.path", checkSpoolPath(cfg.Spool.Path))
	if cfg.Log.File != "" {
		add("log.file", checkWritableFile(cfg.Log.File, false))
	}
	return unitWarnings(cfg), errors.Join(errs...)
}

// checkTLS loads the CA bundle and the client certificate of t apart, so
// that a problem names its key.
func checkTLS(field string, t config.TLS) []error {
	var errs []error
	if t.CAFile != "" {
		if _, err := tlsOptions(config.TLS{Enabled: true, CAFile: t.CAFile}).Config(); err != nil {
			errs = append(errs, &config.FieldError{Field: field + ".ca_file", Problem: err.Error()})
		}
	}
	if t.CertFile != "" || t.KeyFile != "" {
		pair := config.TLS{Enabled: true, CertFile: t.CertFile, KeyFile: t.KeyFile}
		if _, err := tlsOptions(pair).Config(); err != nil {
			errs = append(errs, &config.FieldError{Field: field + ".cert_file", Problem: err.Error()})
		}
	}
	return errs
}

// checkSpoolPath: the spool file, when it exists, is a writable regular
// file; its directory (which the spool creates if missing) is writable.
func checkSpoolPath(path string) error {
	if fi, err := os.Stat(path); err == nil {
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file", path)
		}
	}
	return checkWritableFile(path, true)
}

// checkWritableFile reports whether path can be opened for writing or
// created; with mkdir its missing parent directories may be created too.
func checkWritableFile(path string, mkdir bool) error {
	if _, err := os.Stat(path); err == nil {
		return access(path)
	}
	dir := filepath.Dir(path)
	for mkdir {
		if _, err := os.Stat(dir); err == nil || filepath.Dir(dir) == dir {
			break
		}
		dir = filepath.Dir(dir) // the nearest existing ancestor must be writable
	}
	fi, err := os.Stat(dir)
	switch {
	case err != nil:
		return fmt.Errorf("directory %s: %w", dir, unwrapPath(err))
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	}
	return access(dir)
}

func access(path string) error {
	if err := unix.Access(path, unix.W_OK); err != nil {
		return fmt.Errorf("%s is not writable: %w", path, err)
	}
	return nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// unitWarnings lists paths the shipped systemd unit does not let the
// service write.
func unitWarnings(cfg config.Config) []string {
	var w []string
	if !within(cfg.Spool.Path, unitStateDir) {
		w = append(w, fmt.Sprintf("spool.path: %s is outside %s, the only state directory the shipped "+
			"systemd unit lets the service write (add it to ReadWritePaths=)", cfg.Spool.Path, unitStateDir))
	}
	if cfg.Log.File != "" && !within(cfg.Log.File, unitLogsDir) {
		w = append(w, fmt.Sprintf("log.file: %s is outside %s, the log directory the shipped systemd unit "+
			"lets the service write (add it to ReadWritePaths=)", cfg.Log.File, unitLogsDir))
	}
	return w
}

func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, filepath.Clean(path))
	return err == nil && rel != "." && !strings.HasPrefix(rel, "..")
}
