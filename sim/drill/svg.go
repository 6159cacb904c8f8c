package drill

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Plot geometry (SVG user units, one per CSS pixel).
const (
	plotWidth  = 1320
	plotLeft   = 96
	plotRight  = 24
	panelH     = 120
	panelGap   = 28
	laneH      = 16
	labelRowH  = 16
	charWidth  = 6.3 // average width of an 11px character
	seriesFont = 11
)

// plot draws into an SVG with a shared time axis.
type plot struct {
	b    strings.Builder
	tmax float64 // seconds
	y    float64 // top of the next panel
}

func (p *plot) x(t time.Duration) float64 {
	return plotLeft + t.Seconds()/p.tmax*float64(plotWidth-plotLeft-plotRight)
}

// series is one line of a panel: a value per sample, NaN for none.
type series struct {
	name, color string
	dash        bool
	vals        []float64
}

// timelineSVG draws publish rate, backlog, deliveries per sink, link and
// process states and the fault markers on one time axis.
func timelineSVG(rec *Record) string {
	p := &plot{tmax: 1}
	for _, s := range rec.Samples {
		p.tmax = max(p.tmax, s.At.Seconds())
	}
	for _, e := range rec.Events {
		p.tmax = max(p.tmax, e.At.Seconds())
	}
	faults := faultSteps(rec.Plan.Steps)
	rows, nrows := labelRows(p, faults)
	p.y = 8 + float64(max(nrows, 1))*labelRowH + 6
	body := &strings.Builder{}
	p.b.Reset()
	top := p.y
	at := make([]time.Duration, len(rec.Samples))
	for i, s := range rec.Samples {
		at[i] = s.At
	}
	pub, acked := rates(rec.Samples, func(s Sample) (float64, bool) { return float64(s.Published), true }),
		rates(rec.Samples, func(s Sample) (float64, bool) { return float64(s.Acked), true })
	p.panel("readings/s", at, []series{{"published", "#1f6feb", false, pub}, {"acknowledged", "#6e7781", true, acked}})
	backlog := make([]float64, len(rec.Samples))
	for i, s := range rec.Samples {
		backlog[i] = math.NaN()
		if s.AgentUp {
			backlog[i] = float64(s.Backlog)
		}
	}
	p.panel("agent backlog", at, []series{{"backlog (readings)", "#d97706", false, backlog}})
	var del []series
	for i, sink := range sinkNames(rec.Samples) {
		del = append(del, series{sink + " delivered", []string{"#8250df", "#0e8a7e", "#bf3989"}[i%3], false,
			rates(rec.Samples, func(s Sample) (float64, bool) { v, ok := s.Delivered[sink]; return float64(v), ok && s.AgentUp })})
	}
	p.panel("delivered/s", at, del)
	p.lanes(rec)
	bottom := p.y
	p.axis()
	body.WriteString(p.b.String())
	height := p.y + 24
	var out strings.Builder
	fmt.Fprintf(&out, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%.0f" viewBox="0 0 %d %.0f" font-size="%d" role="img" aria-label="drill timeline">`,
		plotWidth, height, plotWidth, height, seriesFont)
	out.WriteString(`<rect width="100%" height="100%" fill="#fff"/>`)
	out.WriteString(faultMarks(p, faults, rows, top, bottom))
	out.WriteString(body.String())
	out.WriteString(actionMarks(p, rec.Events, top, bottom))
	out.WriteString("</svg>")
	return out.String()
}

// faultSteps returns the steps that have a fault.
func faultSteps(steps []Step) []Step {
	var out []Step
	for _, s := range steps {
		if s.Fault != nil {
			out = append(out, s)
		}
	}
	return out
}

func faultLabel(s Step) string { return fmt.Sprintf("%d %s", s.Index, s.Label) }

// labelRows assigns each fault label a row so that none overlaps another;
// it returns the rows and their number.
func labelRows(p *plot, faults []Step) ([]int, int) {
	var ends []float64 // right end of the last label of each row
	rows := make([]int, len(faults))
	for i := range faults {
		x0 := p.x(faults[i].Start)
		w := float64(len(faultLabel(faults[i])))*charWidth + 8
		row := -1
		for r, e := range ends {
			if x0 >= e {
				row = r
				break
			}
		}
		if row < 0 {
			ends = append(ends, 0)
			row = len(ends) - 1
		}
		ends[row] = x0 + w
		rows[i] = row
	}
	return rows, len(ends)
}

// faultMarks draws a band over each fault's duration, a line at its start
// and its label in the label rows; each as <g class="fault"> with the
// fault's kind and times in data attributes.
func faultMarks(p *plot, faults []Step, rows []int, top, bottom float64) string {
	var b strings.Builder
	for i, s := range faults {
		step, row := s.Index, rows[i]
		x0, x1 := p.x(s.Start), p.x(s.Recover)
		fmt.Fprintf(&b, `<g class="fault" data-step="%d" data-kind="%s" data-start="%.1f" data-end="%.1f">`,
			step, esc(string(s.Fault.Kind)), s.Start.Seconds(), s.Recover.Seconds())
		fmt.Fprintf(&b, `<title>%s: %.1fs to %.1fs</title>`, esc(s.Label), s.Start.Seconds(), s.Recover.Seconds())
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" fill-opacity="0.13"/>`,
			x0, top-4, max(x1-x0, 2), bottom-top+4, faultColor(s.Fault.Kind))
		ly := 8 + float64(row)*labelRowH
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1.5"/>`,
			x0, ly+2, x0, bottom, faultColor(s.Fault.Kind))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="%s">%s</text></g>`, x0+3, ly+11, faultColor(s.Fault.Kind), esc(faultLabel(s)))
	}
	return b.String()
}

func faultColor(k Kind) string {
	switch k {
	case KindCut, KindFlap:
		return "#c62828"
	case KindLatency, KindBandwidth:
		return "#b26a00"
	case KindAgentKill, KindAgentRestart:
		return "#6f42c1"
	case KindBrokerRestart:
		return "#0969da"
	case KindPowerCut:
		return "#1d232a"
	}
	return "#57606a"
}

// actionMarks draws a short tick on the axis for each action done, with
// its operation in a data attribute.
func actionMarks(p *plot, events []Event, top, bottom float64) string {
	var b strings.Builder
	for _, e := range events {
		if e.Step < 0 && e.Op != "publishing done" {
			continue
		}
		x := p.x(e.At)
		if e.Op == "publishing done" {
			fmt.Fprintf(&b, `<g class="phase"><line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#57606a" stroke-dasharray="2 3"/>`, x, top, x, bottom)
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="#57606a" text-anchor="end">publishing ended; drain →</text></g>`, x-3, bottom+40)
			continue
		}
		fmt.Fprintf(&b, `<line class="action" data-op="%s" data-at="%.1f" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#1d232a" stroke-width="1.5"><title>%s %s at %.1fs</title></line>`,
			esc(e.Op), e.At.Seconds(), x, bottom, x, bottom+6, esc(e.Op), esc(e.Link), e.At.Seconds())
	}
	return b.String()
}

// rates turns a cumulative value per sample into a per-second rate.
func rates(samples []Sample, val func(Sample) (float64, bool)) []float64 {
	out := make([]float64, len(samples))
	for i := range samples {
		out[i] = math.NaN()
		if i == 0 {
			continue
		}
		a, okA := val(samples[i-1])
		b, okB := val(samples[i])
		dt := (samples[i].At - samples[i-1].At).Seconds()
		if okA && okB && dt > 0 && b >= a {
			out[i] = (b - a) / dt
		}
	}
	return out
}

func sinkNames(samples []Sample) []string {
	seen := map[string]bool{}
	for _, s := range samples {
		for k := range s.Delivered {
			seen[k] = true
		}
	}
	return sortedKeys(seen)
}
