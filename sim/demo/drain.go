package demo

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/edgespool/edgespool/sim/fleet"
	"github.com/edgespool/edgespool/sim/verify"
)

// drain waits until the verifier passes with every window emitted, or
// DrainTimeout passes, printing the status meanwhile. It returns the last
// report.
func drain(ctx context.Context, o Options, in *infra, agent Agent, exp verify.Expect, fs fleet.Stats) (verify.Report, error) {
	fmt.Fprintf(o.Out, "==> publishing done; waiting for the agent to drain (up to %v)\n", o.DrainTimeout)
	began := time.Now()
	deadline := began.Add(o.DrainTimeout)
	cfg := in.verifyConfig(exp, o.Window)
	var last verify.Report
	for {
		rep, err := verify.Run(ctx, cfg)
		if err == nil {
			last = rep
			if complete(rep) {
				fmt.Fprintf(o.Out, "==> drained in %.1fs\n", time.Since(began).Seconds())
				return rep, nil
			}
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(o.Out, "==> not drained after %v\n", o.DrainTimeout)
			return last, err
		}
		if !sleep(ctx, o.Every) {
			return last, ctx.Err()
		}
		statusLine(o.Out, time.Since(began), fs, in.counters(agent), false)
	}
}

// complete is true when every check passes and no window is pending.
func complete(r verify.Report) bool {
	if !r.OK() {
		return false
	}
	for _, d := range r.Down {
		if d.Pending > 0 {
			return false
		}
	}
	return true
}

func printVerdict(w io.Writer, o Options, res Result) {
	var pub, acked uint64
	for _, d := range res.Summary.Devices {
		pub += d.Published
		acked += d.Acked
	}
	fmt.Fprintf(w, "\n== verdict ==\n%d readings published by %d generators, %d acknowledged by the broker, %d dropped by the broker\n",
		pub, len(res.Summary.Devices), acked, res.BrokerDropped)
	res.Report.WriteText(w)
	for _, r := range res.Report.Raw {
		if r.Duplicates > 0 {
			fmt.Fprintf(w, "%s: %d duplicates, all detectable (same generator and seq; Kafka header %s)\n", r.Sink, r.Duplicates, verify.HeaderID)
		}
	}
	if res.OK() {
		fmt.Fprintf(w, "PASS: the %v uplink cut lost nothing; order kept; every %v window downsampled with the right alarm\n", o.CutFor, o.Window)
	} else {
		fmt.Fprintln(w, "FAIL: see the report above")
	}
}
