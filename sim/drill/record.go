package drill

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgespool/edgespool/sim/fleet"
)

// Record is everything a drill did and saw, written as JSON.
type Record struct {
	Drill   string        `json:"drill"`
	Meta    Meta          `json:"meta"`
	Fleet   Fleet         `json:"fleet"`
	Plan    Plan          `json:"plan"`
	Events  []Event       `json:"events"`
	Samples []Sample      `json:"samples"`
	Summary fleet.Summary `json:"published"`
	Verdict Verdict       `json:"verdict"`
}

// Meta identifies what was drilled: versions, configuration hashes, seeds.
type Meta struct {
	Started       time.Time `json:"started"`
	Ended         time.Time `json:"ended"`
	Host          string    `json:"host"`
	AgentVersion  string    `json:"agent_version"`
	BrokerVersion string    `json:"broker_version"`
	DrillSHA256   string    `json:"drill_sha256"`
	AgentConfig   string    `json:"agent_config,omitempty"`
	AgentSHA256   string    `json:"agent_config_sha256,omitempty"`
	FleetSeed     uint64    `json:"fleet_seed"`
	ScheduleSeed  uint64    `json:"schedule_seed"`
	Scale         float64   `json:"scale"`
}

// meta gathers versions and hashes before the drill starts.
func (r *runner) meta(ctx context.Context) Meta {
	m := Meta{DrillSHA256: hashBytes(r.d.Source), FleetSeed: r.d.Fleet.Seed, ScheduleSeed: r.plan.Seed, Scale: r.o.Scale}
	m.Host, _ = os.Hostname()
	if p := r.d.Site.Agent.Config; p != "" {
		m.AgentConfig = p
		if b, err := os.ReadFile(p); err == nil {
			m.AgentSHA256 = hashBytes(b)
		} else {
			m.AgentSHA256 = "unreadable: " + err.Error()
		}
	}
	m.AgentVersion = r.agentVersion(ctx)
	m.BrokerVersion = r.brokerVersion(ctx)
	return m
}

func hashBytes(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func (r *runner) agentVersion(ctx context.Context) string {
	if c := r.d.Site.Agent.Version; c != "" {
		return commandVersion(ctx, c)
	}
	if st, _, err := r.probe.status(ctx); err == nil && st.Version != "" {
		return st.Version
	}
	return "unknown"
}

func (r *runner) brokerVersion(ctx context.Context) string {
	if c := r.d.Site.Broker.Version; c != "" {
		return commandVersion(ctx, c)
	}
	if v, err := sysVersion(r.d.Site.Broker); err == nil {
		return v
	}
	return "unknown"
}

// commandVersion runs a version command and returns the first line that
// mentions a version (or the first line). Its exit status is ignored:
// mosquitto -h prints its version and exits 3.
func commandVersion(ctx context.Context, command string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, "sh", "-c", command).CombinedOutput()
	first := ""
	s := bufio.NewScanner(bytes.NewReader(out))
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if first == "" {
			first = line
		}
		if strings.Contains(strings.ToLower(line), "version") {
			return line
		}
	}
	if first == "" {
		return "unknown (" + command + " printed nothing)"
	}
	return first
}

// sysVersion reads the broker's retained $SYS/broker/version.
func sysVersion(b Process) (string, error) {
	got := make(chan string, 1)
	o := mqtt.NewClientOptions().AddBroker(b.URL).SetClientID(fmt.Sprintf("edgespool-drill-version-%d", os.Getpid())).
		SetUsername(b.Username).SetPassword(b.Password).SetCleanSession(true).SetConnectTimeout(3 * time.Second)
	c := mqtt.NewClient(o)
	if t := c.Connect(); !t.WaitTimeout(3*time.Second) || t.Error() != nil {
		return "", fmt.Errorf("broker version: connect: %v", t.Error())
	}
	defer c.Disconnect(100)
	c.Subscribe("$SYS/broker/version", 0, func(_ mqtt.Client, m mqtt.Message) {
		select {
		case got <- string(m.Payload()):
		default:
		}
	})
	select {
	case v := <-got:
		return v, nil
	case <-time.After(3 * time.Second):
		return "", fmt.Errorf("broker version: no $SYS/broker/version")
	}
}

// write writes the record, the report and prints the summary.
func (r *runner) write(rec *Record) error {
	path := filepath.Join(r.o.Dir, RecordFile)
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("record: %w", err)
	}
	e := json.NewEncoder(f)
	e.SetIndent("", " ")
	err = e.Encode(rec)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("record: %w", err)
	}
	rf, err := os.Create(filepath.Join(r.o.Dir, ReportFile))
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	err = WriteHTML(rf, rec)
	if cerr := rf.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	rec.WriteText(r.o.Out)
	fmt.Fprintf(r.o.Out, "record: %s\nreport: %s\n", path, filepath.Join(r.o.Dir, ReportFile))
	return nil
}

// ReadRecord reads a record written by a drill.
func ReadRecord(path string) (*Record, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	rec := &Record{}
	if err := json.Unmarshal(b, rec); err != nil {
		return nil, fmt.Errorf("record %s: %w", path, err)
	}
	return rec, nil
}
