package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent"
	"github.com/edgespool/edgespool/agent/model"
	"github.com/edgespool/edgespool/sim/demo"
	"github.com/edgespool/edgespool/uplink"
)

// TestDemoWithAgent runs the self-contained demo with the real agent, a
// 3 s uplink cut and InfluxDB when influxd is available. Raw delivery must
// be complete and in order on every sink.
func TestDemoWithAgent(t *testing.T) {
	if testing.Short() {
		t.Skip("demo takes ~20 s")
	}
	var out bytes.Buffer
	o := demo.Options{Generators: 3, Rate: 50, Duration: 8 * time.Second, CutAt: 2 * time.Second, CutFor: 3 * time.Second,
		Window: 2 * time.Second, Every: time.Second, DrainTimeout: 30 * time.Second, Out: &out}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := demo.Run(ctx, o, startAgent)
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "uplink CUT") || !strings.Contains(out.String(), "uplink RESTORED") {
		t.Fatal("the demo did not cut and restore the uplink")
	}
	var acked, published uint64
	for _, d := range res.Summary.Devices {
		acked, published = acked+d.Acked, published+d.Published
	}
	if acked < 3*50*6 {
		t.Fatalf("only %d readings acknowledged", acked)
	}
	for _, r := range res.Report.Raw {
		if !r.OK() || uint64(r.Unique) < acked || uint64(r.Unique) > published {
			t.Errorf("raw %s: %+v", r.Sink, r)
		}
	}
	checkDownsampled(t, res)
}

// checkDownsampled requires downsampled points on every sink, each window
// once, with the right alarm.
func checkDownsampled(t *testing.T, res demo.Result) {
	t.Helper()
	if len(res.Report.Down) == 0 {
		t.Fatal("no downsampled sink was verified")
	}
	for _, d := range res.Report.Down {
		if d.Points == 0 {
			t.Errorf("downsampled %s: no points", d.Sink)
		}
	}
	if !res.OK() {
		t.Errorf("downsampled: %+v", res.Report.Down)
	}
}

func TestDemoFlags(t *testing.T) {
	if code, _, _ := run(t, "demo", "-rate", "0"); code != exitUsage {
		t.Fatalf("-rate 0: exit %d", code)
	}
}

func TestStatusCounters(t *testing.T) {
	raw := func(name string, lag uint64) agent.ConsumerStatus {
		return agent.ConsumerStatus{Consumer: name, Stream: model.StreamRaw, LagRecords: lag}
	}
	sink := func(name, stream string, sent uint64, state uplink.LinkState) uplink.ForwarderStatus {
		return uplink.ForwarderStatus{Sink: name, Stream: stream, Sent: sent, Link: uplink.LinkStatus{State: state}}
	}
	var st agent.Status
	st.Spool.Streams = []agent.StreamStatus{{Name: model.StreamDownsampled, LastSeq: 7}, {Name: model.StreamRaw, LastSeq: 500}}
	st.Spool.Consumers = []agent.ConsumerStatus{raw(agent.ConsumerDownsample, 400), raw("kafka/raw", 120), raw("influx/raw", 30)}
	st.Sinks = []uplink.ForwarderStatus{sink("kafka", model.StreamRaw, 380, uplink.LinkRetrying),
		sink("kafka", model.StreamDownsampled, 7, uplink.LinkRetrying), sink("influx", model.StreamRaw, 470, uplink.LinkUp)}
	c := statusCounters(st)
	if c.Spooled != 500 || c.Backlog != 120 || c.Forwarded != 380 || c.Links != "kafka retrying, influx up" {
		t.Fatalf("counters %+v", c)
	}
}

// The demo reads a real /status: the drill's sample, taken from the agent
// during an uplink outage.
func TestStatusCountersFromAgent(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "drill", "testdata", "agent-status.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st agent.Status
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	if c := statusCounters(st); c.Spooled == 0 || c.Backlog == 0 || c.Forwarded == 0 || c.Links != "kafka retrying, influx retrying" {
		t.Fatalf("counters %+v", c)
	}
}
