package agent

import (
	"errors"
	"sort"
	"time"

	"github.com/edgespool/edgespool/agent/broker"
	"github.com/edgespool/edgespool/agent/buildinfo"
	"github.com/edgespool/edgespool/agent/intake"
	"github.com/edgespool/edgespool/spool"
	"github.com/edgespool/edgespool/uplink"
)

// Status is the JSON of /status. Every key is snake_case.
type Status struct {
	Version   string                   `json:"version"`
	StartedAt time.Time                `json:"started_at"`
	Ready     bool                     `json:"ready"`
	MQTT      intake.Status            `json:"mqtt"`
	Broker    *BrokerStatus            `json:"broker,omitempty"` // broker mode only
	Spool     SpoolStatus              `json:"spool"`
	Sinks     []uplink.ForwarderStatus `json:"sinks"`
	Alarms    *AlarmStatus             `json:"alarms,omitempty"`
}

// BrokerStatus is the embedded broker's part of Status (broker mode).
type BrokerStatus struct {
	broker.Status
	// Inflight counts the messages the intake holds: received, not yet
	// committed and handed back for their PUBACK.
	Inflight int `json:"inflight"`
}

// SpoolStatus is the spool part of Status.
type SpoolStatus struct {
	Path         string           `json:"path"`
	FileBytes    int64            `json:"file_bytes"`
	LogicalBytes int64            `json:"logical_bytes"`
	CapBytes     int64            `json:"cap_bytes"`
	Policy       string           `json:"policy"`
	Streams      []StreamStatus   `json:"streams"`
	Consumers    []ConsumerStatus `json:"consumers"`
}

// StreamStatus is one stream of SpoolStatus (spool.StreamStats in JSON).
type StreamStatus struct {
	Name           string    `json:"name"`
	Records        uint64    `json:"records"`
	Bytes          int64     `json:"bytes"`
	FirstSeq       uint64    `json:"first_seq"`
	LastSeq        uint64    `json:"last_seq"`
	Oldest         time.Time `json:"oldest,omitzero"`
	Newest         time.Time `json:"newest,omitzero"`
	OldestAppended time.Time `json:"oldest_appended,omitzero"`
	Priority       int       `json:"priority"`
	Dropped        uint64    `json:"dropped"`
	Corrupt        uint64    `json:"corrupt"`
}

// ConsumerStatus is one cursor of SpoolStatus (spool.ConsumerStats in JSON).
type ConsumerStatus struct {
	Consumer   string  `json:"consumer"`
	Stream     string  `json:"stream"`
	Cursor     uint64  `json:"cursor"`
	LagRecords uint64  `json:"lag_records"`
	LagSeconds float64 `json:"lag_seconds"`
	Dropped    uint64  `json:"dropped"`
	// Orphan is set for a cursor the configuration no longer names: kept,
	// holding nothing back, removed with edgespool spool remove-cursor.
	Orphan bool `json:"orphan,omitempty"`
}

// Status returns the live state; safe while the agent starts and stops.
func (a *Agent) Status() Status {
	a.mu.Lock()
	started, sp, in, b, fwds, alarms := a.started, a.sp, a.in, a.broker, a.fwds, a.alarmPub
	a.mu.Unlock()
	st := Status{Version: buildinfo.Get().Version, StartedAt: started, Ready: a.Ready() == nil,
		Sinks: []uplink.ForwarderStatus{}}
	switch {
	case b != nil:
		st.Broker = &BrokerStatus{Status: b.Status(), Inflight: in.Status().Inflight}
	case in != nil:
		st.MQTT = in.Status()
	}
	if sp != nil {
		st.Spool = NewSpoolStatus(a.cfg.Spool.Path, sp.Stats())
	}
	for _, f := range fwds {
		st.Sinks = append(st.Sinks, f.Status())
	}
	if alarms != nil {
		as := alarms.status()
		st.Alarms = &as
	}
	return st
}

// NewSpoolStatus converts spool statistics for /status and `spool stat`.
func NewSpoolStatus(path string, s spool.Stats) SpoolStatus {
	ss := SpoolStatus{Path: path, FileBytes: s.FileBytes, LogicalBytes: s.LogicalBytes, CapBytes: s.CapBytes,
		Policy: s.Policy, Streams: []StreamStatus{}, Consumers: []ConsumerStatus{}}
	for name, st := range s.Streams {
		ss.Streams = append(ss.Streams, StreamStatus{Name: name, Records: st.Records, Bytes: st.Bytes,
			FirstSeq: st.FirstSeq, LastSeq: st.LastSeq, Oldest: st.Oldest, Newest: st.Newest,
			OldestAppended: st.OldestAppended, Priority: st.Priority, Dropped: st.Dropped, Corrupt: st.Corrupt})
	}
	sort.Slice(ss.Streams, func(i, j int) bool { return ss.Streams[i].Name < ss.Streams[j].Name })
	for _, c := range s.Consumers {
		ss.Consumers = append(ss.Consumers, ConsumerStatus{Consumer: c.Consumer, Stream: c.Stream, Cursor: c.Cursor,
			LagRecords: c.LagRecords, LagSeconds: c.LagSeconds, Dropped: c.Dropped, Orphan: c.Orphan})
	}
	return ss
}

// Ready is nil when the agent can take data: spool open, and MQTT
// subscribed or (broker mode) the intake running and the embedded broker
// listening. The uplinks do not count: an outage is normal at the edge.
func (a *Agent) Ready() error {
	a.mu.Lock()
	sp, in, b := a.sp, a.in, a.broker
	a.mu.Unlock()
	switch {
	case sp == nil:
		return errors.New("spool not open")
	case a.cfg.Broker.Enabled() && (b == nil || in == nil || !in.Ready() || !b.Listening()):
		return errors.New("embedded broker not listening")
	case in == nil || !in.Ready():
		return errors.New("mqtt not connected and subscribed")
	}
	return nil
}

// HTTPAddr is the bound HTTP address ("" when disabled or not yet bound).
func (a *Agent) HTTPAddr() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.http == nil {
		return ""
	}
	return a.http.Addr()
}
