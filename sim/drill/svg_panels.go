package drill

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// State colours of the lanes.
const (
	colorUp       = "#2da44e"
	colorDown     = "#cf222e"
	colorDegraded = "#d4a72c"
)

// panel draws one line chart under the previous one.
func (p *plot) panel(title string, at []time.Duration, ss []series) {
	top := p.y + panelGap
	x0, x1 := float64(plotLeft), float64(plotWidth-plotRight)
	ymax := 0.0
	for _, s := range ss {
		for _, v := range s.vals {
			if !math.IsNaN(v) {
				ymax = max(ymax, v)
			}
		}
	}
	ymax = niceCeil(ymax)
	fmt.Fprintf(&p.b, `<g class="panel" data-title="%s">`, esc(title))
	fmt.Fprintf(&p.b, `<text x="%.1f" y="%.1f" font-weight="600">%s</text>`, x0, top-7, esc(title))
	lx := x1
	for i := len(ss) - 1; i >= 0; i-- {
		s := ss[i]
		lx -= float64(len(s.name))*charWidth + 30
		fmt.Fprintf(&p.b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"%s/><text x="%.1f" y="%.1f">%s</text>`,
			lx, top-11, lx+18, top-11, s.color, dashAttr(s.dash), lx+22, top-7, esc(s.name))
	}
	fmt.Fprintf(&p.b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%d" fill="none" stroke="#d0d7de"/>`, x0, top, x1-x0, panelH)
	for _, f := range []float64{0, 0.5, 1} {
		y := top + panelH - f*panelH
		fmt.Fprintf(&p.b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eaeef2"/><text x="%.1f" y="%.1f" text-anchor="end" fill="#57606a">%s</text>`,
			x0, y, x1, y, x0-6, y+4, numLabel(f*ymax))
	}
	for _, s := range ss {
		p.line(s, at, top, ymax)
	}
	p.b.WriteString("</g>")
	p.y = top + panelH
}

func dashAttr(dash bool) string {
	if dash {
		return ` stroke-dasharray="5 3"`
	}
	return ""
}

// line draws a series as polylines, broken where it has no value.
func (p *plot) line(s series, at []time.Duration, top, ymax float64) {
	var pts []string
	flush := func() {
		if len(pts) > 1 {
			fmt.Fprintf(&p.b, `<polyline fill="none" stroke="%s" stroke-width="1.6"%s points="%s"/>`, s.color, dashAttr(s.dash), strings.Join(pts, " "))
		} else if len(pts) == 1 {
			var x, y float64
			fmt.Sscanf(pts[0], "%f,%f", &x, &y)
			fmt.Fprintf(&p.b, `<circle cx="%.1f" cy="%.1f" r="1.5" fill="%s"/>`, x, y, s.color)
		}
		pts = pts[:0]
	}
	for i, v := range s.vals {
		if math.IsNaN(v) {
			flush()
			continue
		}
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", p.x(at[i]), top+panelH-v/ymax*panelH))
	}
	flush()
}

// lanes draws the state of each link, the agent and the broker.
func (p *plot) lanes(rec *Record) {
	top := p.y + panelGap
	fmt.Fprintf(&p.b, `<g class="lanes"><text x="%d" y="%.1f" font-weight="600">states</text>`, plotLeft, top-7)
	lx := float64(plotWidth - plotRight)
	for _, l := range [][2]string{{"degraded", colorDegraded}, {"cut / down", colorDown}, {"up", colorUp}} {
		lx -= float64(len(l[0]))*charWidth + 22
		fmt.Fprintf(&p.b, `<rect x="%.1f" y="%.1f" width="12" height="10" fill="%s"/><text x="%.1f" y="%.1f">%s</text>`, lx, top-16, l[1], lx+16, top-7, l[0])
	}
	y := top
	for _, name := range linkNames(rec.Samples) {
		p.lane(y, name+" link", rec.Samples, func(s Sample) string { return linkColor(s.Links[name]) })
		y += laneH + 4
	}
	p.lane(y, "agent", rec.Samples, func(s Sample) string {
		if s.AgentUp {
			return colorUp
		}
		return colorDown
	})
	y += laneH + 4
	down := brokerDown(rec.Events)
	p.lane(y, "broker", rec.Samples, func(s Sample) string {
		if down(s.At) {
			return colorDown
		}
		return colorUp
	})
	y += laneH
	p.b.WriteString("</g>")
	p.y = y
}

// lane draws one row of coloured intervals, one per sample.
func (p *plot) lane(y float64, label string, samples []Sample, color func(Sample) string) {
	fmt.Fprintf(&p.b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`, plotLeft-6, y+12, esc(label))
	prev := time.Duration(0)
	for _, s := range samples {
		x0, x1 := p.x(prev), p.x(s.At)
		fmt.Fprintf(&p.b, `<rect x="%.1f" y="%.1f" width="%.2f" height="%d" fill="%s"/>`, x0, y, max(x1-x0, 0.5), laneH, color(s))
		prev = s.At
	}
}

func linkNames(samples []Sample) []string {
	seen := map[string]bool{}
	for _, s := range samples {
		for k := range s.Links {
			seen[k] = true
		}
	}
	return sortedKeys(seen)
}

func linkColor(state string) string {
	switch state {
	case "up", "":
		return colorUp
	case "CUT":
		return colorDown
	}
	return colorDegraded
}

// brokerDown returns whether the broker was down at a time, from the
// drill's own broker actions.
func brokerDown(events []Event) func(time.Duration) bool {
	type span struct{ from, to time.Duration }
	var spans []span
	var since time.Duration = -1
	for _, e := range events {
		switch {
		case (e.Op == OpBrokerKill || e.Op == OpBrokerStop) && e.Error == "" && since < 0:
			since = e.At
		case e.Op == OpBrokerStart && since >= 0:
			spans = append(spans, span{since, e.At})
			since = -1
		}
	}
	if since >= 0 {
		spans = append(spans, span{since, time.Duration(math.MaxInt64)})
	}
	return func(t time.Duration) bool {
		for _, s := range spans {
			if t > s.from && t <= s.to {
				return true
			}
		}
		return false
	}
}

// axis draws the time axis under everything.
func (p *plot) axis() {
	y := p.y + 8
	step := niceStep(p.tmax / 12)
	fmt.Fprintf(&p.b, `<g class="axis"><line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#57606a"/>`, plotLeft, y, plotWidth-plotRight, y)
	for t := 0.0; t <= p.tmax+1e-9; t += step {
		x := p.x(time.Duration(t * float64(time.Second)))
		fmt.Fprintf(&p.b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#57606a"/><text x="%.1f" y="%.1f" text-anchor="middle" fill="#57606a">%s</text>`,
			x, y, x, y+4, x, y+17, clock(t))
	}
	fmt.Fprintf(&p.b, `<text x="%d" y="%.1f" text-anchor="end" fill="#57606a">time (m:ss)</text></g>`, plotLeft-16, y+4)
	p.y = y + 22
}

func clock(sec float64) string {
	s := int(math.Round(sec))
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// niceStep returns 1, 2, 5, 10, 15, 30 s or 1, 2, 5, 10, 15, 30 min... at
// or above d seconds.
func niceStep(d float64) float64 {
	for _, s := range []float64{1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200} {
		if s >= d {
			return s
		}
	}
	return math.Ceil(d/3600) * 3600
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func numLabel(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%gM", math.Round(v/1e5)/10)
	case v >= 1e4:
		return fmt.Sprintf("%gk", math.Round(v/1e2)/10)
	}
	return fmt.Sprintf("%g", math.Round(v*10)/10)
}
