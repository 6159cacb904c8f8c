package fleet

import (
	"strconv"
	"time"

	"github.com/edgespool/edgespool/agent/model"
)

// TopicPrefix is the MQTT topic prefix of the reference pipeline; a
// generator publishes on TopicPrefix + generatorID.
const TopicPrefix = "emergency_generator/"

// Topic returns the MQTT topic of a generator.
func Topic(id string) string { return TopicPrefix + id }

// AppendPayload appends the JSON payload of r to b: the reference object
// (generatorID, lat, lon, temperature, power, load, fuel) followed, unless
// bare is set, by "time" (RFC 3339 with nanoseconds, UTC) and "seq".
// Generator ids come from ID and need no escaping.
func AppendPayload(b []byte, r model.Reading, bare bool) []byte {
	b = append(b, `{"generatorID": "`...)
	b = append(b, r.GeneratorID...)
	b = append(b, `", "lat": `...)
	b = strconv.AppendFloat(b, r.Lat, 'f', -1, 64)
	b = append(b, `, "lon": `...)
	b = strconv.AppendFloat(b, r.Lon, 'f', -1, 64)
	b = appendInt(b, "temperature", r.Temperature)
	b = appendInt(b, "power", r.Power)
	b = appendInt(b, "load", r.Load)
	b = appendInt(b, "fuel", r.Fuel)
	if !bare {
		b = append(b, `, "time": "`...)
		b = time.Unix(0, r.Time).UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, `", "seq": `...)
		b = strconv.AppendUint(b, r.Seq, 10)
	}
	return append(b, '}')
}

func appendInt(b []byte, name string, v int64) []byte {
	b = append(b, `, "`...)
	b = append(b, name...)
	b = append(b, `": `...)
	return strconv.AppendInt(b, v, 10)
}
