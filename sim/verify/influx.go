package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/edgespool/edgespool/agent/model"
)

// InfluxOptions configure ReadInflux. It uses the InfluxQL /query endpoint
// of InfluxDB 1.8+ (on 2.x the v1-compatible endpoint with a DBRP mapping).
type InfluxOptions struct {
	URL                string // e.g. http://127.0.0.1:8086
	DB                 string // database (1.x) or mapped bucket name, e.g. "kafka"
	Username, Password string
	Token              string // 2.x: sent as "Authorization: Token ..."
	Measurement        string // default genData
	Client             *http.Client
	Timeout            time.Duration // default one minute
}

// influxChunk is one chunk of a chunked /query response.
type influxChunk struct {
	Results []struct {
		Series []influxSeries `json:"series"`
		Error  string         `json:"error"`
	} `json:"results"`
	Error string `json:"error"`
}

type influxSeries struct {
	Tags    map[string]string `json:"tags"`
	Columns []string          `json:"columns"`
	Values  [][]any           `json:"values"`
}

// ReadInflux reads every point of the measurement, grouped by tags, with
// nanosecond timestamps. A database that does not exist is an error.
func ReadInflux(ctx context.Context, o InfluxOptions) ([]Observation, error) {
	if o.Measurement == "" {
		o.Measurement = model.Measurement
	}
	if o.Client == nil {
		o.Client = http.DefaultClient
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	resp, err := o.Client.Do(o.request(ctx))
	if err != nil {
		return nil, fmt.Errorf("influx query: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("influx query: %s: %s", resp.Status, b)
	}
	return decodeChunks(resp.Body)
}

func (o InfluxOptions) request(ctx context.Context) *http.Request {
	q := url.Values{}
	q.Set("db", o.DB)
	q.Set("q", fmt.Sprintf(`SELECT * FROM %q GROUP BY *`, o.Measurement))
	q.Set("epoch", "ns")
	q.Set("chunked", "true")
	q.Set("chunk_size", "10000")
	if o.Username != "" {
		q.Set("u", o.Username)
		q.Set("p", o.Password)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, o.URL+"/query?"+q.Encode(), nil)
	if o.Token != "" {
		req.Header.Set("Authorization", "Token "+o.Token)
	}
	return req
}

func decodeChunks(r io.Reader) ([]Observation, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	var out []Observation
	for {
		var c influxChunk
		if err := dec.Decode(&c); errors.Is(err, io.EOF) {
			return out, nil
		} else if err != nil {
			return out, fmt.Errorf("influx response: %w", err)
		}
		if c.Error != "" {
			return out, fmt.Errorf("influx: %s", c.Error)
		}
		for _, res := range c.Results {
			if res.Error != "" {
				return out, fmt.Errorf("influx: %s", res.Error)
			}
			for _, s := range res.Series {
				obs, err := s.observations()
				if err != nil {
					return out, err
				}
				out = append(out, obs...)
			}
		}
	}
}

func (s influxSeries) observations() ([]Observation, error) {
	out := make([]Observation, 0, len(s.Values))
	for _, row := range s.Values {
		o := Observation{Partition: -1}
		o.GeneratorID, o.Region = s.Tags["generatorID"], s.Tags["region"]
		for i, col := range s.Columns {
			if i < len(row) && row[i] != nil {
				if err := setColumn(&o, col, row[i]); err != nil {
					return nil, fmt.Errorf("%w: %s column %s: %v", ErrBadRecord, o.GeneratorID, col, err)
				}
			}
		}
		out = append(out, o)
	}
	return out, nil
}

// setColumn stores one InfluxQL column of a row. Integer fields must come
// back as integers (a float here means a field type conflict upstream).
func setColumn(o *Observation, col string, v any) error {
	var err error
	switch col {
	case "time":
		o.Time, err = asInt(v)
	case "generatorID", "region":
		if s, ok := v.(string); ok && col == "generatorID" {
			o.GeneratorID = s
		} else if ok {
			o.Region = s
		}
	case "alarm":
		o.Alarm, _ = v.(string)
	case "lat":
		o.Lat, err = asFloat(v)
	case "lon":
		o.Lon, err = asFloat(v)
	case "fuel":
		o.Fuel, err = asInt(v)
	case "load":
		o.Load, err = asInt(v)
	case "power":
		o.Power, err = asInt(v)
	case "temperature":
		o.Temperature, err = asInt(v)
	case "seq":
		var n int64
		n, err = asInt(v)
		o.Seq = uint64(n)
	}
	return err
}

func asInt(v any) (int64, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, fmt.Errorf("not a number: %v", v)
	}
	return strconv.ParseInt(string(n), 10, 64)
}

func asFloat(v any) (float64, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, fmt.Errorf("not a number: %v", v)
	}
	return n.Float64()
}
