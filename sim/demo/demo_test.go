package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func shortOptions(out *bytes.Buffer) Options {
	return Options{Generators: 3, Rate: 20, Duration: 6 * time.Second, CutAt: 2 * time.Second, CutFor: 2 * time.Second,
		Window: 2 * time.Second, Every: 500 * time.Millisecond, DrainTimeout: 30 * time.Second, NoInflux: true, Out: out}
}

// TestDemoWithRelay runs the whole harness, cut included, with a relay
// that loses nothing: the demo must pass, and must have seen the cut.
func TestDemoWithRelay(t *testing.T) {
	var out bytes.Buffer
	res, err := Run(context.Background(), shortOptions(&out), startRelay(0))
	t.Log(out.String())
	if err != nil || !res.OK() {
		t.Fatalf("demo failed: %v", err)
	}
	s := out.String()
	for _, want := range []string{"uplink CUT", "uplink RESTORED", "PASS", "0 missing"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if res.Report.Down[0].Windows < 6 {
		t.Errorf("only %d windows checked", res.Report.Down[0].Windows)
	}
}

// TestDemoFailsOnLoss checks that the demo cannot pass when readings are lost.
func TestDemoFailsOnLoss(t *testing.T) {
	var out bytes.Buffer
	o := shortOptions(&out)
	o.Duration, o.CutAt, o.CutFor, o.DrainTimeout = 3*time.Second, time.Second, time.Second, 3*time.Second
	res, _ := Run(context.Background(), o, startRelay(7))
	if res.OK() || res.Report.Raw[0].Missing == 0 || !strings.Contains(out.String(), "FAIL") {
		t.Fatalf("lossy relay passed:\n%s", out.String())
	}
}
