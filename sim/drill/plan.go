package drill

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"time"
)

// Kind is a kind of fault.
type Kind string

// Fault kinds. Link faults act on the Kafka link, the InfluxDB link or
// both; the others on the agent, the broker or the spool's disk.
const (
	KindCut                 Kind = "cut"            // link cut for For, then restored
	KindFlap                Kind = "flap"           // link cut Down, up Up, repeated for For
	KindLatency             Kind = "latency"        // added latency (and jitter) for For
	KindBandwidth           Kind = "bandwidth"      // rate cap (KBps) for For
	KindAgentKill           Kind = "agent-kill"     // agent SIGKILLed, started again after For
	KindAgentRestart        Kind = "agent-restart"  // agent stopped cleanly, started again after For
	KindBrokerRestart       Kind = "broker-restart" // broker stopped, started again after For
	KindPowerCut            Kind = "power-cut"      // agent and broker killed together, both started after For
	KindSpoolPressure       Kind = "spool-pressure" // the user's fill command, released after For
	LinkKafka                    = "kafka"
	LinkInflux                   = "influxdb"
	LinkBoth                     = "both"
	drawStream                   = 0x6472696c6c // second word of the random schedule's PCG seed
	defaultBaselineStepName      = "baseline"
)

// AllKinds returns every fault kind.
func AllKinds() []Kind {
	return []Kind{KindCut, KindFlap, KindLatency, KindBandwidth, KindAgentKill, KindAgentRestart,
		KindBrokerRestart, KindPowerCut, KindSpoolPressure}
}

func (k Kind) valid() bool {
	for _, x := range AllKinds() {
		if k == x {
			return true
		}
	}
	return false
}

func (k Kind) isLink() bool {
	return k == KindCut || k == KindFlap || k == KindLatency || k == KindBandwidth
}

func (k Kind) needsFor() bool { return k.isLink() || k == KindSpoolPressure }

func validLink(l string) bool { return l == LinkKafka || l == LinkInflux || l == LinkBoth }

// Operations of an Action.
const (
	OpCut         = "cut"
	OpRestore     = "restore"
	OpLatency     = "latency"
	OpBandwidth   = "bandwidth"
	OpClear       = "clear"
	OpAgentKill   = "agent-kill"
	OpAgentStop   = "agent-stop"
	OpAgentStart  = "agent-start"
	OpBrokerKill  = "broker-kill"
	OpBrokerStop  = "broker-stop"
	OpBrokerStart = "broker-start"
	OpFill        = "spool-fill"
	OpRelease     = "spool-release"
)

// Action is one thing the drill does at a fixed offset from its start.
type Action struct {
	At   time.Duration `json:"at"`
	Step int           `json:"step"`
	Op   string        `json:"op"`
	Link string        `json:"link,omitempty"`
}

// Step is a scenario step: a fault and the time until the next one. Step
// 0 is the baseline before the first fault.
type Step struct {
	Index int           `json:"index"`
	Label string        `json:"label"`
	Fault *Fault        `json:"fault,omitempty"`
	Start time.Duration `json:"start"`
	End   time.Duration `json:"end"`
	// Recover is when the fault ends (link restored, process started).
	Recover time.Duration `json:"recover"`
}

// Plan is the drill's schedule: its steps and the actions that make them.
type Plan struct {
	Seed    uint64   `json:"seed"` // of the random part; 0 without one
	Steps   []Step   `json:"steps"`
	Actions []Action `json:"actions"`
}

// Plan returns the drill's schedule. The same drill (and seed) always
// gives the same plan.
func (d *Drill) Plan() Plan {
	faults := append([]Fault(nil), d.Timeline...)
	var p Plan
	if d.Random != nil {
		p.Seed = d.Random.Seed
		faults = append(faults, d.Random.draw()...)
	}
	sort.SliceStable(faults, func(i, j int) bool { return faults[i].At < faults[j].At })
	p.Steps = []Step{{Label: defaultBaselineStepName, End: d.Duration}}
	for i, f := range faults {
		idx := i + 1
		p.Steps[idx-1].End = f.At
		f := f
		p.Steps = append(p.Steps, Step{Index: idx, Label: f.label(), Fault: &f, Start: f.At, End: d.Duration, Recover: f.At + f.For})
		p.Actions = append(p.Actions, f.actions(idx)...)
	}
	sort.SliceStable(p.Actions, func(i, j int) bool { return p.Actions[i].At < p.Actions[j].At })
	return p
}

// draw returns the random faults: one after another from Start, each
// followed by a quiet gap, all over by End.
func (r *Random) draw() []Fault {
	rng := rand.New(rand.NewPCG(r.Seed, drawStream))
	between := func(b []time.Duration) time.Duration {
		if b[1] <= b[0] {
			return b[0]
		}
		return b[0] + time.Duration(rng.Int64N(int64(b[1]-b[0])+1)).Truncate(time.Second)
	}
	var out []Fault
	for t := r.Start; ; {
		f := Fault{At: t, Kind: r.Faults[rng.IntN(len(r.Faults))]}
		if f.Kind.needsFor() {
			f.For = between(r.For)
		} else {
			f.For = between(r.Down)
		}
		if f.Kind.isLink() {
			f.Link = r.Links[rng.IntN(len(r.Links))]
		}
		f.defaults()
		if t+f.For > r.End {
			return out
		}
		out = append(out, f)
		t += f.For + between(r.Gap)
	}
}

func (f Fault) label() string {
	switch f.Kind {
	case KindCut, KindFlap:
		return fmt.Sprintf("%s %s %v", f.Link, f.Kind, f.For)
	case KindLatency:
		return fmt.Sprintf("%s latency %v for %v", f.Link, f.Latency, f.For)
	case KindBandwidth:
		return fmt.Sprintf("%s bandwidth %d KB/s for %v", f.Link, f.KBps, f.For)
	case KindSpoolPressure:
		return fmt.Sprintf("spool pressure %v", f.For)
	}
	return fmt.Sprintf("%s (down %v)", f.Kind, f.For)
}

// links returns the links a link fault acts on.
func (f Fault) links() []string {
	if f.Link == LinkBoth {
		return []string{LinkKafka, LinkInflux}
	}
	return []string{f.Link}
}

// actions expands a fault into its actions.
func (f Fault) actions(step int) []Action {
	at := func(t time.Duration, op, link string) Action { return Action{At: t, Step: step, Op: op, Link: link} }
	end := f.At + f.For
	var out []Action
	switch f.Kind {
	case KindCut, KindLatency, KindBandwidth:
		on, off := OpCut, OpRestore
		if f.Kind != KindCut {
			on, off = string(f.Kind), OpClear
		}
		for _, l := range f.links() {
			out = append(out, at(f.At, on, l), at(end, off, l))
		}
	case KindFlap:
		for t := f.At; t < end; t += f.Down + f.Up {
			for _, l := range f.links() {
				out = append(out, at(t, OpCut, l), at(min(t+f.Down, end), OpRestore, l))
			}
		}
	case KindAgentKill:
		out = append(out, at(f.At, OpAgentKill, ""), at(end, OpAgentStart, ""))
	case KindAgentRestart:
		out = append(out, at(f.At, OpAgentStop, ""), at(end, OpAgentStart, ""))
	case KindBrokerRestart:
		out = append(out, at(f.At, OpBrokerStop, ""), at(end, OpBrokerStart, ""))
	case KindPowerCut:
		out = append(out, at(f.At, OpAgentKill, ""), at(f.At, OpBrokerKill, ""),
			at(end, OpBrokerStart, ""), at(end, OpAgentStart, ""))
	case KindSpoolPressure:
		out = append(out, at(f.At, OpFill, ""), at(end, OpRelease, ""))
	}
	return out
}
