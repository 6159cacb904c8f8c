package e2e

import (
	"bytes"
	"compress/gzip"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
	"time"
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
		// Parsed aside: the agent gets InfluxDB's answer without waiting.
		go t.observe(time.Now(), body, req.Header.Get("Content-Encoding") == "gzip")
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
		for len(body) > 0 {
			line := body
			if i := bytes.IndexByte(body, '\n'); i >= 0 {
				line, body = body[:i], body[i+1:]
			} else {
				body = nil
			}
			if len(line) > 0 {
				report(lineGenAndTime(line))
			}
		}
	})
}

// lineGenAndTime returns the generator index (tag generatorID
// "generatorN") and the timestamp of one raw point as the agent writes it
// (uplink's appendLine: no string fields, so the tags end at the first
// space and the timestamp follows the last). It scans instead of decoding
// so that the benchmark's probe stays cheap beside the load it measures.
func lineGenAndTime(line []byte) (gen int, ev int64, ok bool) {
	const tag = ",generatorID=generator"
	sp, last := bytes.IndexByte(line, ' '), bytes.LastIndexByte(line, ' ')
	if sp < 0 || last <= sp {
		return 0, 0, false
	}
	i := bytes.Index(line[:sp], []byte(tag))
	if i < 0 {
		return 0, 0, false
	}
	id := line[i+len(tag) : sp]
	if j := bytes.IndexByte(id, ','); j >= 0 {
		id = id[:j]
	}
	g, okG := digits(id)
	ts, okT := digits(line[last+1:])
	return int(g), ts, okG && okT
}

// digits parses a non-empty run of decimal digits that fits an int64.
func digits(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		d := int64(c - '0')
		if c < '0' || c > '9' || n > (math.MaxInt64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}
