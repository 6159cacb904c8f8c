package testenv

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgespool/edgespool/sim/servers"
)

// InfluxServer is an InfluxDB 1.8 server (influxd) with the v2 write API and Flux
// enabled, on free loopback ports, without authentication.
type InfluxServer struct {
	// URL is http://host:port of the HTTP API.
	URL string

	t    testing.TB
	bin  string
	dir  string
	conf string
	proc *process
}

// Influx starts influxd and stops it when the test ends.
func Influx(t testing.TB) *InfluxServer {
	t.Helper()
	in := &InfluxServer{t: t, bin: Tool(t, "influxd"), dir: t.TempDir()}
	httpAddr := hostPort(FreePort(t))
	rpcAddr := hostPort(FreePort(t))
	in.URL = "http://" + httpAddr
	in.conf = filepath.Join(in.dir, "influxdb.conf")
	if err := os.WriteFile(in.conf, servers.InfluxdConfig(in.dir, rpcAddr, httpAddr), 0o644); err != nil {
		t.Fatalf("influxd config: %v", err)
	}
	in.Start()
	t.Cleanup(in.Stop)
	return in
}

// Start (re)starts influxd with its data.
func (in *InfluxServer) Start() {
	in.t.Helper()
	if in.proc != nil && !in.proc.exited() {
		return
	}
	in.proc = startProcess(in.t, in.dir, "influxd", in.bin, "run", "-config", in.conf)
	in.proc.waitReady(in.t, 60*time.Second, in.ping)
}

// Stop stops influxd.
func (in *InfluxServer) Stop() {
	if in.proc != nil {
		in.proc.stop(syscall.SIGTERM, 15*time.Second)
	}
}

// PID returns influxd's process id, or 0 when it is not running.
func (in *InfluxServer) PID() int {
	if in.proc == nil || in.proc.exited() {
		return 0
	}
	return in.proc.cmd.Process.Pid
}

func (in *InfluxServer) ping() error {
	resp, err := http.Get(in.URL + "/ping")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("ping: %s", resp.Status)
	}
	return nil
}

// CreateDB creates a database (its default retention policy is autogen, so
// the v2-API bucket is "<name>/autogen" or just "<name>").
func (in *InfluxServer) CreateDB(t testing.TB, name string) {
	t.Helper()
	if _, err := in.query("", "CREATE DATABASE "+quoteIdent(name)); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
}

// Series is one series of an InfluxQL result.
type Series struct {
	Name    string            `json:"name"`
	Tags    map[string]string `json:"tags"`
	Columns []string          `json:"columns"`
	Values  [][]any           `json:"values"`
}

// Query runs an InfluxQL query (timestamps as integer nanoseconds) and
// returns the series of its first statement.
func (in *InfluxServer) Query(t testing.TB, db, q string) []Series {
	t.Helper()
	s, err := in.query(db, q)
	if err != nil {
		t.Fatalf("influxql %q: %v", q, err)
	}
	return s
}

func (in *InfluxServer) query(db, q string) ([]Series, error) {
	form := url.Values{"q": {q}, "epoch": {"ns"}}
	if db != "" {
		form.Set("db", db)
	}
	resp, err := http.PostForm(in.URL+"/query", form)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct {
		Results []struct {
			Series []Series `json:"series"`
			Error  string   `json:"error"`
		} `json:"results"`
		Error string `json:"error"`
	}
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("decode %s: %w", resp.Status, err)
	}
	if out.Error != "" {
		return nil, fmt.Errorf("%s", out.Error)
	}
	if len(out.Results) == 0 {
		return nil, nil
	}
	if e := out.Results[0].Error; e != "" {
		return nil, fmt.Errorf("%s", e)
	}
	return out.Results[0].Series, nil
}

// Write writes line protocol to db through the 1.x /write endpoint.
func (in *InfluxServer) Write(t testing.TB, db, lines string) {
	t.Helper()
	u := in.URL + "/write?precision=ns&db=" + url.QueryEscape(db)
	resp, err := http.Post(u, "text/plain", strings.NewReader(lines))
	if err != nil {
		t.Fatalf("influx write: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("influx write: %s: %s", resp.Status, body)
	}
}

// Flux runs a Flux query and returns the annotated CSV response.
func (in *InfluxServer) Flux(t testing.TB, query string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, in.URL+"/api/v2/query", strings.NewReader(query))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/vnd.flux")
	req.Header.Set("Accept", "application/csv")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("flux: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("flux: %s: %s", resp.Status, body)
	}
	return string(body)
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }
