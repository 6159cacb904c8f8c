package agent

import (
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/edgespool/edgespool/agent/config"
)

// liveSettings are the settings a reload changes while the agent runs.
type liveSettings struct {
	drainTimeout time.Duration
	alarmRetain  bool
}

func newLiveSettings(c config.Config) *liveSettings {
	return &liveSettings{drainTimeout: c.Uplink.DrainTimeout, alarmRetain: c.Downsample.AlarmRetain}
}

// LiveKeys are the configuration keys a reload applies without a restart:
// the log level (applied by the caller with the log file reopen) and the
// settings of liveSettings.
var LiveKeys = []string{"log.level", "uplink.drain_timeout", "downsample.alarm_retain"}

// Reload applies what of cfg can change while the agent runs and returns
// the keys that differ from the running configuration but need a restart,
// sorted. cfg must be valid (config.Load checks it).
func (a *Agent) Reload(cfg config.Config) (restartNeeded []string) {
	a.live.Store(newLiveSettings(cfg))
	for _, k := range ChangedKeys(a.cfg, cfg) {
		if !slices.Contains(LiveKeys, k) {
			restartNeeded = append(restartNeeded, k)
		}
	}
	return restartNeeded
}

// ChangedKeys lists the dotted YAML keys (mqtt.broker, kafka.tls.ca_file)
// whose values differ between old and new, sorted.
func ChangedKeys(old, new config.Config) []string {
	var keys []string
	diffStruct(reflect.ValueOf(old), reflect.ValueOf(new), "", &keys)
	slices.Sort(keys)
	return keys
}

func diffStruct(a, b reflect.Value, prefix string, keys *[]string) {
	t := a.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		key := prefix + name
		fa, fb := a.Field(i), b.Field(i)
		if f.Type.Kind() == reflect.Struct {
			diffStruct(fa, fb, key+".", keys)
			continue
		}
		if !reflect.DeepEqual(fa.Interface(), fb.Interface()) {
			*keys = append(*keys, key)
		}
	}
}
