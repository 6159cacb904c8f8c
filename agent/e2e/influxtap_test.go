package e2e

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
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
	URL    string // where the agent writes
	bucket string // raw bucket whose points are timed

	mu        sync.Mutex
	lo, hi    int
	since     int64
	lat       []time.Duration
	got       uint64
	undecoded uint64
	changed   chan struct{}
}

func startInfluxTap(tb testing.TB, influxURL, rawBucket string) *influxTap {
	target, err := url.Parse(influxURL)
	if err != nil {
		tb.Fatal(err)
	}
	t := &influxTap{bucket: rawBucket, changed: make(chan struct{}, 1)}
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
			t.mu.Lock()
			t.undecoded++
			t.mu.Unlock()
			return
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	dec := lineprotocol.NewDecoderWithBytes(body)
	for dec.Next() {
		g, ev, ok := pointGenAndTime(dec)
		if !ok {
			t.undecoded++
			continue
		}
		if g < t.lo || g > t.hi {
			continue
		}
		t.got++
		if ev >= t.since {
			t.lat = append(t.lat, at.Sub(time.Unix(0, ev)))
		}
	}
	select {
	case t.changed <- struct{}{}:
	default:
	}
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

func (t *influxTap) measure(lo, hi int, since int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lo, t.hi, t.since, t.lat, t.got = lo, hi, since, nil, 0
}

// waitFor waits until n points of the measured generators were written.
func (t *influxTap) waitFor(n uint64, timeout time.Duration) error {
	deadline := time.After(timeout)
	for {
		t.mu.Lock()
		got, bad := t.got, t.undecoded
		t.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-t.changed:
		case <-deadline:
			return fmt.Errorf("%d of %d points written within %v (%d undecodable)", got, n, timeout, bad)
		}
	}
}

func (t *influxTap) take() []time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t.lat
	t.lat = nil
	return l
}
