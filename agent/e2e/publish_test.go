package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/edgespool/edgespool/sim/fleet"
	"github.com/edgespool/edgespool/sim/verify"
)

// publishing is a fleet of simulated generators publishing at QoS 1 (with
// time and seq in every payload) through one or more MQTT connections,
// recording every reading in a published log.
type publishing struct {
	fleet  *fleet.Fleet
	pubs   []*fleet.MQTTPublisher
	log    bytes.Buffer
	lw     *fleet.LogWriter
	done   chan error
	cancel context.CancelFunc
	start  time.Time
}

// startFleet starts publishing o at QoS 1 through conns connections to the
// broker. Without o.Recorder it records a published log for the verifier.
func startFleet(tb testing.TB, brokerURL string, conns int, o fleet.Options) *publishing {
	tb.Helper()
	return startFleetQoS(tb, brokerURL, conns, false, o)
}

// startFleetQoS is startFleet, at QoS 0 with qos0.
func startFleetQoS(tb testing.TB, brokerURL string, conns int, qos0 bool, o fleet.Options) *publishing {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := &publishing{done: make(chan error, 1)}
	var pubs []fleet.Publisher
	for i := range max(conns, 1) {
		pub, err := fleet.DialMQTT(ctx, fleet.MQTTOptions{Broker: brokerURL,
			ClientID: fmt.Sprintf("e2e-fleet-%d-%d", time.Now().UnixNano(), i), QoS0: qos0, Logger: quietLogger()})
		if err != nil {
			tb.Fatalf("fleet publisher: %v", err)
		}
		p.pubs = append(p.pubs, pub)
		pubs = append(pubs, pub)
	}
	if o.Recorder == nil { // else the caller records, and there is no published log
		p.lw = fleet.NewLogWriter(&p.log)
		o.Recorder = p.lw
	}
	o.Logger = quietLogger()
	f, err := fleet.New(o, pubs...)
	if err != nil {
		tb.Fatal(err)
	}
	p.fleet, p.start = f, time.Now()
	runCtx, stop := context.WithCancel(context.Background())
	p.cancel = stop
	go func() { p.done <- f.Run(runCtx) }()
	tb.Cleanup(func() { stop(); p.close(tb) })
	return p
}

// stop ends publishing now and returns what wait returns.
func (p *publishing) stop(tb testing.TB) verify.Expect {
	tb.Helper()
	p.cancel()
	return p.wait(tb)
}

// wait waits until the fleet has published everything and the broker
// acknowledged it, and returns the expected set for the verifier: every
// acknowledged (generator, seq), with the published values.
func (p *publishing) wait(tb testing.TB) verify.Expect {
	tb.Helper()
	if err := <-p.done; err != nil {
		tb.Fatalf("fleet: %v", err)
	}
	p.close(tb)
	exp := verify.ExpectSummary(p.fleet.Summary())
	if p.lw == nil {
		return exp
	}
	if err := p.lw.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := exp.AddLog(bytes.NewReader(p.log.Bytes())); err != nil {
		tb.Fatal(err)
	}
	return exp
}

// close waits for the broker's acknowledgements and disconnects.
func (p *publishing) close(tb testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, pub := range p.pubs {
		if err := pub.Close(ctx); err != nil {
			tb.Errorf("fleet publisher close: %v", err)
		}
	}
	p.pubs = nil
}

// published returns the total number of readings handed to the broker.
func (p *publishing) published() uint64 { return p.fleet.Stats().Published }

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError}))
}
