package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/edgespool/edgespool/sim/linkcut"
	"github.com/edgespool/edgespool/sim/servers"
)

// ErrNoInfluxd means no influxd binary was found; the demo then runs
// without the InfluxDB sink.
var ErrNoInfluxd = errors.New("no influxd binary found")

// findInfluxd returns the influxd binary to use.
func findInfluxd(explicit string) (string, error) {
	if explicit != "" {
		return explicit, nil
	}
	var cands []string
	if d := os.Getenv("EDGESPOOL_TOOLS"); d != "" {
		cands = append(cands, filepath.Join(d, "bin", "influxd"))
	}
	cands = append(cands, "/opt/edgespool-tools/bin/influxd")
	for _, c := range cands {
		if st, err := os.Stat(c); err == nil && st.Mode()&0o111 != 0 {
			return c, nil
		}
	}
	if p, err := exec.LookPath("influxd"); err == nil {
		return p, nil
	}
	return "", ErrNoInfluxd
}

// influx is an influxd process behind a cuttable link.
type influx struct {
	cmd  *exec.Cmd
	url  string // direct
	link *linkcut.Proxy
	done chan struct{}
}

func startInflux(ctx context.Context, bin, dir string, log *slog.Logger, dbs ...string) (*influx, error) {
	rpc, httpAddr := freeAddr(), freeAddr()
	conf := filepath.Join(dir, "influxdb.conf")
	if err := os.WriteFile(conf, servers.InfluxdConfig(dir, rpc, httpAddr), 0o644); err != nil {
		return nil, fmt.Errorf("influxd config: %w", err)
	}
	logf, err := os.Create(filepath.Join(dir, "influxd.log"))
	if err != nil {
		return nil, fmt.Errorf("influxd log: %w", err)
	}
	defer logf.Close()
	in := &influx{cmd: exec.Command(bin, "run", "-config", conf), url: "http://" + httpAddr, done: make(chan struct{})}
	in.cmd.Stdout, in.cmd.Stderr = logf, logf
	if err := in.cmd.Start(); err != nil {
		return nil, fmt.Errorf("influxd start: %w", err)
	}
	go func() { in.cmd.Wait(); close(in.done) }()
	if err := in.setup(ctx, dbs); err != nil {
		in.stop()
		return nil, err
	}
	if in.link, err = linkcut.New("127.0.0.1:0", httpAddr, linkcut.Options{Logger: log}); err != nil {
		in.stop()
		return nil, err
	}
	return in, nil
}

// setup waits for influxd to answer and creates the databases.
func (in *influx) setup(ctx context.Context, dbs []string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(in.url + "/ping")
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case <-in.done:
			return fmt.Errorf("influxd exited at start: %v", in.cmd.ProcessState)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("influxd not answering: %w", err)
		}
	}
	for _, db := range dbs {
		resp, err := http.PostForm(in.url+"/query", url.Values{"q": {fmt.Sprintf("CREATE DATABASE %q", db)}})
		if err != nil {
			return fmt.Errorf("influx create database %s: %w", db, err)
		}
		resp.Body.Close()
	}
	return nil
}

// stop ends influxd by its pid: SIGTERM, then SIGKILL after 10 s.
func (in *influx) stop() {
	if in.link != nil {
		in.link.Close()
	}
	in.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-in.done:
	case <-time.After(10 * time.Second):
		in.cmd.Process.Kill()
		<-in.done
	}
}

// freeAddr returns a loopback address with a port free at the time of the call.
func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:0"
	}
	defer ln.Close()
	return ln.Addr().String()
}
