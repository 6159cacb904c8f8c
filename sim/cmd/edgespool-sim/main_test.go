package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgespool/edgespool/sim/fleet"
	"github.com/edgespool/edgespool/sim/testenv"
	"github.com/edgespool/edgespool/sim/verify"
)

func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := realMain(ctx, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"nope"}, {"run", "-rate", "0"}, {"run", "-bogus"},
		{"verify", "-kafka", "x:1"}, {"verify", "-generators", "2", "-count", "3"}, {"fault"}, {"fault", "cut"},
		{"fault", "create", "-name", "k"}, {"fault", "explode", "-name", "k"}} {
		if code, _, _ := run(t, args...); code != exitUsage {
			t.Errorf("%q: exit %d, want %d", args, code, exitUsage)
		}
	}
	if code, out, _ := run(t, "-h"); code != exitOK || !strings.Contains(out, "verify") {
		t.Errorf("-h: exit %d", code)
	}
}

func TestRunWritesSummaryAndLog(t *testing.T) {
	b := testenv.Mosquitto(t)
	dir := t.TempDir()
	sum, log := filepath.Join(dir, "summary.json"), filepath.Join(dir, "published.csv")
	code, out, errOut := run(t, "run", "-broker", b.URL, "-generators", "3", "-count", "40", "-rate", "200",
		"-summary", sum, "-log", log, "-stats", "0")
	if code != exitOK || !strings.Contains(out, "120 published, 120 acknowledged") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	f, _ := os.Open(sum)
	defer f.Close()
	s, err := fleet.ReadSummary(f)
	if err != nil || len(s.Devices) != 3 || s.Devices[2].Acked != 40 {
		t.Fatalf("summary %+v, %v", s, err)
	}
	var exp verify.Expect
	lf, _ := os.Open(log)
	defer lf.Close()
	if err := exp.AddLog(lf); err != nil || len(exp.Readings["generator2"]) != 40 {
		t.Fatalf("log: %v", err)
	}
}

func TestVerifyExitCodes(t *testing.T) {
	k := testenv.Kafka(t)
	cl := k.Client(t, kgo.AllowAutoTopicCreation())
	for i := 1; i <= 2; i++ {
		g := fleet.NewGenerator(1, i)
		for j := 0; j < 30; j++ {
			r := g.Next(time.Unix(1700000000+int64(j), 0))
			rec := &kgo.Record{Topic: "complete", Key: []byte(r.GeneratorID), Value: fleet.AppendPayload(nil, r, false)}
			recs := []*kgo.Record{rec}
			if i != 2 || j != 12 { // generator2 seq 13 lost on the default topic
				lossy := *rec
				lossy.Topic = verify.DefaultRawTopic
				recs = append(recs, &lossy)
			}
			if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	brokers := strings.Join(k.Addrs, ",")
	code, out, errOut := run(t, "verify", "-kafka", brokers, "-raw-topic", "complete", "-generators", "2", "-count", "30", "-no-down")
	if code != exitOK || !strings.Contains(out, "PASS") {
		t.Fatalf("complete: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = run(t, "verify", "-kafka", brokers, "-generators", "2", "-count", "30", "-no-down", "-json")
	var rep struct {
		OK  bool
		Raw []verify.RawReport
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("json output: %v\n%s", err, out)
	}
	if code != exitFail || rep.OK || rep.Raw[0].Missing != 1 || fmt.Sprint(rep.Raw[0].MissingBy["generator2"]) != "[13]" {
		t.Fatalf("loss: exit %d report %+v", code, rep)
	}
}

func TestFaultCommands(t *testing.T) {
	x := testenv.Toxiproxy(t)
	listen := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	steps := [][]string{
		{"create", "-name", "kafka", "-listen", listen, "-upstream", "127.0.0.1:9"},
		{"cut", "-name", "kafka"},
		{"latency", "-name", "kafka", "-latency", "100ms"},
		{"flap", "-name", "kafka", "-down", "10ms", "-up", "10ms", "-cycles", "2"},
		{"clear", "-name", "kafka"},
	}
	for _, s := range steps {
		if code, out, errOut := run(t, append([]string{"fault", s[0], "-api", x.Addr}, s[1:]...)...); code != exitOK {
			t.Fatalf("%v: exit %d\n%s%s", s, code, out, errOut)
		}
	}
	code, out, _ := run(t, "fault", "list", "-api", x.Addr)
	if code != exitOK || !strings.Contains(out, "kafka") || strings.Contains(out, "CUT") {
		t.Fatalf("list: exit %d\n%s", code, out)
	}
	if code, _, _ := run(t, "fault", "cut", "-api", x.Addr, "-name", "nope"); code != exitFail {
		t.Fatalf("cut of a missing proxy: exit %d", code)
	}
}

func TestDrillCommandPlanAndUsage(t *testing.T) {
	if code, _, _ := run(t, "drill"); code != exitUsage {
		t.Errorf("drill without a file: exit %d", code)
	}
	code, out, errOut := run(t, "drill", "-plan", "quick", "-scale", "0.5")
	if code != exitOK || !strings.Contains(out, "kafka cut 10s") || !strings.Contains(out, "broker-start") {
		t.Errorf("drill -plan quick: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, _ := run(t, "drill", "-print", "soak"); code != exitOK || !strings.Contains(out, "random:") {
		t.Errorf("drill -print soak: exit %d", code)
	}
	if code, _, errOut := run(t, "drill", "no-such-drill"); code != exitFail || !strings.Contains(errOut, "quick, soak") {
		t.Errorf("unknown drill: exit %d: %s", code, errOut)
	}
}
