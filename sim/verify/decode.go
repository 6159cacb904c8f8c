package verify

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/edgespool/edgespool/agent/model"
)

// kafkaValue is the JSON value of an agent's Kafka record: the reference
// payload plus time and seq; downsampled points add alarm, region and
// window.
type kafkaValue struct {
	GeneratorID string  `json:"generatorID"`
	Lat         float64 `json:"lat"`
	Lon         float64 `json:"lon"`
	Temperature int64   `json:"temperature"`
	Power       int64   `json:"power"`
	Load        int64   `json:"load"`
	Fuel        int64   `json:"fuel"`
	Time        string  `json:"time"`
	Seq         uint64  `json:"seq"`
	Alarm       string  `json:"alarm"`
	Region      string  `json:"region"`
	Window      string  `json:"window"`
}

// ErrBadRecord is wrapped by errors about a record that cannot be decoded.
var ErrBadRecord = errors.New("undecodable record")

// decodeValue turns a Kafka record value into an Observation.
func decodeValue(b []byte) (Observation, error) {
	var v kafkaValue
	if err := json.Unmarshal(b, &v); err != nil {
		return Observation{}, fmt.Errorf("%w: %v", ErrBadRecord, err)
	}
	if v.GeneratorID == "" {
		return Observation{}, fmt.Errorf("%w: no generatorID", ErrBadRecord)
	}
	t, err := time.Parse(time.RFC3339Nano, v.Time)
	if err != nil {
		return Observation{}, fmt.Errorf("%w: time: %v", ErrBadRecord, err)
	}
	o := Observation{
		Reading: model.Reading{GeneratorID: v.GeneratorID, Time: t.UnixNano(), Seq: v.Seq,
			Lat: v.Lat, Lon: v.Lon, Temperature: v.Temperature, Power: v.Power, Load: v.Load, Fuel: v.Fuel},
		Alarm: v.Alarm, Region: v.Region,
	}
	if v.Window != "" {
		w, err := time.Parse(time.RFC3339Nano, v.Window)
		if err != nil {
			return Observation{}, fmt.Errorf("%w: window: %v", ErrBadRecord, err)
		}
		o.Window, o.HasWindow = w.UnixNano(), true
	}
	return o, nil
}

// Readings returns the distinct readings of obs (first of each seq, or of
// each time when seq is absent), for CheckDown.
func Readings(obs []Observation) []model.Reading {
	type key struct {
		id  string
		seq uint64
		t   int64
	}
	seen := map[key]bool{}
	var out []model.Reading
	for _, o := range obs {
		k := key{o.GeneratorID, o.Seq, 0}
		if o.Seq == 0 {
			k.t = o.Time
		}
		if !seen[k] {
			seen[k] = true
			out = append(out, o.Reading)
		}
	}
	return out
}
