// Package verify reads the readings back from the sinks (Kafka topics with
// franz-go, independent of the agent's client; InfluxDB over its /query
// HTTP API) and compares them with what the simulator published: readings
// missing per generator (as seq ranges), duplicates, per-generator order
// within each Kafka partition, unknown or extra records, and the
// downsampled stream (one point per generator per window, the window's
// latest reading, the right alarm).
//
// The checks (CheckRaw, CheckDown) are pure functions over Observations, so
// they are tested with synthetic data. Both judge a slice of a run as
// well (Device.From; DownOptions.From and Until), which the drill uses to
// judge each scenario step. The readers (ReadKafka, ReadInflux)
// only turn sink records into Observations.
package verify
