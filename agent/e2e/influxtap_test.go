package e2e

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
)

// influxTap is a reverse proxy between the agent and InfluxDB that notes,
// for every raw point of the generators being measured, when InfluxDB
// answered 2xx to the write that carried it. InfluxDB 1.8 answers a write
// once the points are in its WAL and cache, so from that moment queries
// return them: the answer is the moment the point became visible, taken
// to the microsecond and without loading influxd with queries.
type influxTap struct {
	*latencyLog
	URL    string // where the agent writes
	bucket string // raw bucket whose points are timed
}

func startInfluxTap(tb testing.TB, influxURL, rawBucket string) *influxTap {
	target, err := url.Parse(influxURL)
	if err != nil {
		tb.Fatal(err)
	}
	t := &influxTap{latencyLog: newLatencyLog("points written"), bucket: rawBucket}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = t
	srv := httptest.NewServer(rp)
	tb.Cleanup(srv.Close)
	t.URL = srv.URL
	return t
}

// RoundTrip forwards the request and times the points of a successful
// raw write.
func (t *influxTap) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Path != "/api/v2/write" || req.URL.Query().Get("bucket") != t.bucket || req.Body == nil {
		return http.DefaultTransport.RoundTrip(req)
	}
	body, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err == nil && resp.StatusCode/100 == 2 {
		t.observe(time.Now(), body, req.Header.Get("Content-Encoding") == "gzip")
	}
	return resp, err
}

func (t *influxTap) observe(at time.Time, body []byte, gzipped bool) {
	if gzipped {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err == nil {
			body, err = io.ReadAll(zr)
		}
		if err != nil {
			t.add(at, func(report func(int, int64, bool)) { report(0, 0, false) })
			return
		}
	}
	t.add(at, func(report func(int, int64, bool)) {
		dec := lineprotocol.NewDecoderWithBytes(body)
		for dec.Next() {
			report(pointGenAndTime(dec))
		}
	})
}

// pointGenAndTime returns the generator index (tag generatorID
// "generatorN") and the timestamp of the decoder's current line.
func pointGenAndTime(dec *lineprotocol.Decoder) (gen int, ev int64, ok bool) {
	if _, err := dec.Measurement(); err != nil {
		return 0, 0, false
	}
	gen = -1
	for {
		k, v, err := dec.NextTag()
		if err != nil {
			return 0, 0, false
		}
		if k == nil {
			break
		}
		if string(k) == "generatorID" {
			n, err := strconv.Atoi(strings.TrimPrefix(string(v), "generator"))
			if err != nil {
				return 0, 0, false
			}
			gen = n
		}
	}
	for {
		k, _, err := dec.NextField()
		if err != nil {
			return 0, 0, false
		}
		if k == nil {
			break
		}
	}
	ts, err := dec.Time(lineprotocol.Nanosecond, time.Time{})
	if err != nil || ts.IsZero() || gen < 0 {
		return 0, 0, false
	}
	return gen, ts.UnixNano(), true
}
