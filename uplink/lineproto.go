package uplink

import (
	"fmt"
	"time"

	"github.com/edgespool/edgespool/agent/model"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
)

// appendLine encodes one point of it into enc (as the reference pipeline wrote it):
// measurement genData, tag generatorID (and region when downsampled),
// integer fields as integers, lat/lon as floats, alarm as a string,
// timestamp = event time in nanoseconds. A point the encoder refuses is a
// ClassPermanent error and leaves enc's buffer as it was.
func appendLine(enc *lineprotocol.Encoder, it item) error {
	r := it.Reading
	enc.StartLine(model.Measurement)
	enc.AddTag("generatorID", r.GeneratorID)
	if it.down {
		enc.AddTag("region", it.Region)
		alarm, _ := lineprotocol.StringValue(it.Alarm) // UTF-8: checked by decode
		enc.AddField("alarm", alarm)
	}
	enc.AddField("fuel", lineprotocol.IntValue(r.Fuel))
	lat, _ := lineprotocol.FloatValue(r.Lat) // finite: checked by decode
	lon, _ := lineprotocol.FloatValue(r.Lon)
	enc.AddField("lat", lat)
	enc.AddField("lon", lon)
	enc.AddField("load", lineprotocol.IntValue(r.Load))
	enc.AddField("power", lineprotocol.IntValue(r.Power))
	enc.AddField("temperature", lineprotocol.IntValue(r.Temperature))
	enc.EndLine(time.Unix(0, r.Time))
	if err := enc.Err(); err != nil {
		enc.ClearErr()
		return Permanent(fmt.Errorf("line protocol for %s: %w", r.GeneratorID, err))
	}
	return nil
}
