package agent

import (
	"errors"
	"sort"
	"time"

	"github.com/edgespool/edgespool/agent/broker"
	"github.com/edgespool/edgespool/agent/buildinfo"
	"github.com/edgespool/edgespool/agent/httpapi"
	"github.com/edgespool/edgespool/agent/intake"
	"github.com/edgespool/edgespool/spool"
	"github.com/edgespool/edgespool/uplink"
)

// Status is the JSON of /status.
type Status struct {
	Version   string                   `json:"version"`
	StartedAt time.Time                `json:"started_at"`
	Ready     bool                     `json:"ready"`
	MQTT      intake.Status            `json:"mqtt"`
	Broker    *broker.Status           `json:"broker,omitempty"` // broker mode only
	Spool     SpoolStatus              `json:"spool"`
	Sinks     []uplink.ForwarderStatus `json:"sinks"`
}

// SpoolStatus is the spool part of Status.
type SpoolStatus struct {
	Path         string                `json:"path"`
	FileBytes    int64                 `json:"file_bytes"`
	LogicalBytes int64                 `json:"logical_bytes"`
	CapBytes     int64                 `json:"cap_bytes"`
	Policy       string                `json:"policy"`
	Streams      []StreamStatus        `json:"streams"`
	Consumers    []spool.ConsumerStats `json:"consumers"`
}

// StreamStatus is one stream of SpoolStatus.
type StreamStatus struct {
	Name string `json:"name"`
	spool.StreamStats
}

// Status returns the live state.
func (a *Agent) Status() Status {
	st := Status{Version: buildinfo.Get().Version, StartedAt: a.started, Ready: a.Ready() == nil,
		Sinks: []uplink.ForwarderStatus{}}
	if a.broker != nil {
		bs := a.broker.Status()
		st.Broker = &bs
	} else if a.in != nil {
		st.MQTT = a.in.Status()
	}
	if a.sp != nil {
		st.Spool = NewSpoolStatus(a.cfg.Spool.Path, a.sp.Stats())
	}
	for _, f := range a.fwds {
		st.Sinks = append(st.Sinks, f.Status())
	}
	return st
}

// NewSpoolStatus converts spool statistics for /status and `spool stat`.
func NewSpoolStatus(path string, s spool.Stats) SpoolStatus {
	ss := SpoolStatus{Path: path, FileBytes: s.FileBytes, LogicalBytes: s.LogicalBytes, CapBytes: s.CapBytes,
		Policy: s.Policy, Consumers: s.Consumers}
	for name, st := range s.Streams {
		ss.Streams = append(ss.Streams, StreamStatus{Name: name, StreamStats: st})
	}
	sort.Slice(ss.Streams, func(i, j int) bool { return ss.Streams[i].Name < ss.Streams[j].Name })
	return ss
}

// Ready is nil when the agent can take data: spool open, MQTT subscribed.
// The uplinks do not count: an outage is normal at the edge.
func (a *Agent) Ready() error {
	switch {
	case a.sp == nil:
		return errors.New("spool not open")
	case !a.intakeReady():
		return errors.New("mqtt not connected and subscribed")
	}
	return nil
}

func (a *Agent) startHTTP() error {
	if a.cfg.HTTP.Listen == "" {
		return nil
	}
	srv, err := httpapi.Listen(a.cfg.HTTP.Listen, httpapi.Options{Gatherer: a.reg, Ready: a.Ready,
		Status: func() any { return a.Status() }, Logger: a.log.With("component", "http")})
	if err != nil {
		return err
	}
	a.http = srv
	go srv.Serve()
	return nil
}

// HTTPAddr is the bound HTTP address ("" when disabled).
func (a *Agent) HTTPAddr() string {
	if a.http == nil {
		return ""
	}
	return a.http.Addr()
}
