package downsample

import (
	"fmt"
	"time"
)

// Defaults of Options. They reproduce the reference task: one-minute
// windows, region "US", "refuel" when fuel < 500.
const (
	DefaultWindow        = time.Minute
	DefaultLateness      = 5 * time.Second
	DefaultIdleGrace     = 30 * time.Second
	DefaultRetention     = 24 * time.Hour
	DefaultMaxFuture     = time.Hour
	DefaultRegion        = "US"
	DefaultLabel         = "no action"
	DefaultRefuelLabel   = "refuel"
	DefaultFuelThreshold = 500
)

// maxDuration bounds every duration option so that window arithmetic on
// event times within [minTime, maxTime] cannot overflow.
const maxDuration = time.Duration(1 << 59) // about 18 years

// Options configure the window and alarm logic. The zero value means the
// defaults; a negative duration switches the feature off where noted.
type Options struct {
	// Window is the length of the aligned event-time windows (default 1m).
	// Windows start at multiples of Window since the Unix epoch.
	Window time.Duration
	// Lateness is how far a generator's event time must pass a window's end
	// before the window closes (default 5s; negative: none).
	Lateness time.Duration
	// IdleGrace closes the windows of a silent generator by wall clock: a
	// window closes once the wall clock is past its end + Lateness +
	// IdleGrace and no reading of that generator arrived for IdleGrace
	// (default 30s; negative: windows close by event time only).
	IdleGrace time.Duration
	// Retention is how long (wall clock, relative to window starts) the
	// state of a silent generator is kept; readings older than
	// now - Retention are late for every generator (default 24h; negative:
	// kept forever).
	Retention time.Duration
	// MaxFuture rejects readings whose event time is more than MaxFuture
	// ahead of the wall clock, so one bad device clock cannot close a
	// generator's windows for years (default 1h; negative: accept any).
	MaxFuture time.Duration
	// Region is the constant region tag (default "US").
	Region string
	// Rules are the alarm rules, tried in order; the first match gives the
	// label (default: fuel < 500 → "refuel").
	Rules []Rule
	// DefaultLabel is the label when no rule matches (default "no action").
	DefaultLabel string
}

// withDefaults returns o with zero fields replaced by the defaults and
// checks it.
func (o Options) withDefaults() (Options, error) {
	o.Window = orDuration(o.Window, DefaultWindow)
	o.Lateness = orDuration(o.Lateness, DefaultLateness)
	o.IdleGrace = orDuration(o.IdleGrace, DefaultIdleGrace)
	o.Retention = orDuration(o.Retention, DefaultRetention)
	o.MaxFuture = orDuration(o.MaxFuture, DefaultMaxFuture)
	if o.Window < 0 {
		return o, fmt.Errorf("window %v: must be positive", o.Window)
	}
	for _, d := range []time.Duration{o.Window, o.Lateness, o.IdleGrace, o.Retention, o.MaxFuture} {
		if d > maxDuration {
			return o, fmt.Errorf("duration %v: longer than %v", d, maxDuration)
		}
	}
	if o.Region == "" {
		o.Region = DefaultRegion
	}
	if o.DefaultLabel == "" {
		o.DefaultLabel = DefaultLabel
	}
	if len(o.Rules) == 0 {
		o.Rules = []Rule{{Field: FieldFuel, Op: OpLess, Threshold: DefaultFuelThreshold, Label: DefaultRefuelLabel}}
	}
	for i, r := range o.Rules {
		if err := r.Validate(); err != nil {
			return o, fmt.Errorf("alarm rule %d: %w", i+1, err)
		}
	}
	return o, nil
}

func orDuration(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}
