package uplink

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// writeRecorder is an InfluxDB write endpoint that counts the points of
// each request and the requests in flight at once; fail, if set, decides
// a request's status from its body.
type writeRecorder struct {
	mu          sync.Mutex
	points      []int // per request, in arrival order
	inFlight    atomic.Int32
	maxInFlight atomic.Int32
	hold        time.Duration // each request takes this long
	fail        func(body []byte) int
}

func (w *writeRecorder) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	n := w.inFlight.Add(1)
	defer w.inFlight.Add(-1)
	for {
		m := w.maxInFlight.Load()
		if n <= m || w.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	body, _ := io.ReadAll(r.Body)
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err == nil {
			body, _ = io.ReadAll(zr)
		}
	}
	time.Sleep(w.hold)
	w.mu.Lock()
	w.points = append(w.points, bytes.Count(body, []byte("\n")))
	w.mu.Unlock()
	if w.fail != nil {
		if code := w.fail(body); code != 0 {
			rw.Header().Set("X-Influxdb-Error", "partial write: unable to parse points dropped=1")
			rw.WriteHeader(code)
			_, _ = io.WriteString(rw, `{"error":"partial write: unable to parse points dropped=1"}`)
			return
		}
	}
	rw.WriteHeader(http.StatusNoContent)
}

func rawMessages(n int) []Message {
	msgs := make([]Message, n)
	for i := range msgs {
		msgs[i] = rawMessage(reading(1+i%5, i))
	}
	return msgs
}

func TestInfluxSplitsALargeSendIntoParallelRequests(t *testing.T) {
	rec := &writeRecorder{hold: 100 * time.Millisecond}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	s, err := NewInflux(InfluxOptions{URL: srv.URL, Parallel: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), rawMessages(3000)); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.points) != 2 || rec.points[0]+rec.points[1] != 3000 {
		t.Fatalf("requests of %v points, want 2 requests with the 3000 points", rec.points)
	}
	if m := rec.maxInFlight.Load(); m != 2 {
		t.Fatalf("%d requests in flight at most, want 2", m)
	}
}

func TestInfluxWritesSmallSendsAndParallel1InOneRequestAtATime(t *testing.T) {
	for _, c := range []struct {
		name     string
		parallel int
		points   int
		want     int // requests
	}{
		{"small send", 2, MinParallelPoints, 1},
		{"parallel 1", 1, 3000, 1},
		{"batch bound, sequential", 1, 25000, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := &writeRecorder{hold: 20 * time.Millisecond}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			s, err := NewInflux(InfluxOptions{URL: srv.URL, Parallel: c.parallel})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Send(context.Background(), rawMessages(c.points)); err != nil {
				t.Fatal(err)
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if len(rec.points) != c.want || rec.maxInFlight.Load() != 1 {
				t.Fatalf("%d requests (%v points), %d in flight at most; want %d, one at a time",
					len(rec.points), rec.points, rec.maxInFlight.Load(), c.want)
			}
		})
	}
}

func TestInfluxParallelSendReportsTheFirstFailedRequest(t *testing.T) {
	// The second request (points 1500-2999) is rejected; the first is
	// written. Send must fail with the rejection, so that the forwarder
	// isolates the bad point (rewriting the first half is harmless).
	msgs := rawMessages(3000)
	inSecond := []byte(" " + strconv.FormatInt(msgs[2000].Time, 10) + "\n")
	rec := &writeRecorder{fail: func(body []byte) int {
		if bytes.Contains(body, inSecond) {
			return http.StatusBadRequest
		}
		return 0
	}}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	s, err := NewInflux(InfluxOptions{URL: srv.URL, Parallel: 2})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), msgs)
	if err == nil || ClassOf(err) != ClassPermanent {
		t.Fatalf("Send = %v (class %v), want the permanent rejection of the second request", err, ClassOf(err))
	}
	if errors.Is(err, context.Canceled) {
		t.Fatalf("Send = %v: the cancellation of the other request hid the rejection", err)
	}
}

func TestInfluxRequestPoints(t *testing.T) {
	s, err := NewInflux(InfluxOptions{URL: "http://127.0.0.1:1", Parallel: 4, BatchPoints: 5000})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ n, want int }{
		{1, MinParallelPoints}, {MinParallelPoints + 1, MinParallelPoints}, {4 * MinParallelPoints, MinParallelPoints},
		{4*MinParallelPoints + 4, MinParallelPoints + 1}, {4000, 1000}, {20000, 5000}, {100000, 5000},
	} {
		if got := s.requestPoints(c.n); got != c.want {
			t.Errorf("requestPoints(%d) = %d, want %d", c.n, got, c.want)
		}
	}
}
