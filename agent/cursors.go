package agent

import "github.com/edgespool/edgespool/agent/model"

// The cursor names on the spool are defined here and only here: the spool
// is opened with the list consumers builds, and each forwarder and the
// downsample engine is given its name explicitly from the same functions.

// ConsumerDownsample is the downsample engine's cursor on the raw stream.
const ConsumerDownsample = "downsample"

// Sink names, as they appear in cursor names, logs and metrics.
const (
	sinkKafka  = "kafka"
	sinkInflux = "influx"
)

// forwardedStreams are the streams every sink receives, the downsampled
// one first (it has priority on the link).
var forwardedStreams = []string{model.StreamDownsampled, model.StreamRaw}

// forwarderConsumer is the cursor of sink's forwarder of stream.
func forwarderConsumer(sink, stream string) string {
	switch stream {
	case model.StreamRaw:
		return sink + "/raw"
	case model.StreamDownsampled:
		return sink + "/down"
	}
	return sink + "/" + stream
}

// enabledSinks names the sinks the configuration enables.
func (a *Agent) enabledSinks() []string {
	var s []string
	if a.cfg.Kafka.Enabled {
		s = append(s, sinkKafka)
	}
	if a.cfg.InfluxDB.Enabled {
		s = append(s, sinkInflux)
	}
	return s
}

// consumers lists the cursors each stream must keep records for.
func (a *Agent) consumers() map[string][]string {
	c := map[string][]string{}
	if a.cfg.Downsample.Enabled {
		c[model.StreamRaw] = append(c[model.StreamRaw], ConsumerDownsample)
	}
	for _, sink := range a.enabledSinks() {
		for _, stream := range forwardedStreams {
			c[stream] = append(c[stream], forwarderConsumer(sink, stream))
		}
	}
	return c
}
