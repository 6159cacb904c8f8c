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
	dropAll     bool // a failed request says all its points were dropped
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
			msg := "partial write: unable to parse points dropped=1"
			if w.dropAll {
				msg = fieldConflict + strconv.Itoa(bytes.Count(body, []byte("\n")))
			}
			rw.Header().Set("X-Influxdb-Error", msg)
			rw.Header().Set("Content-Type", "application/json")
			rw.WriteHeader(code)
			_, _ = io.WriteString(rw, `{"error":`+strconv.Quote(msg)+`}`) // as InfluxDB 1.8
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
	err := sendVia(t, &writeRecorder{fail: failHolding(msgs[2000], http.StatusBadRequest, 0)}, InfluxOptions{Parallel: 2}, msgs)
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

// failHolding returns a writeRecorder hook answering code to the request
// that holds m's point, other to the others.
func failHolding(m Message, code, other int) func([]byte) int {
	marker := []byte(" " + strconv.FormatInt(m.Time, 10) + "\n")
	return func(body []byte) int {
		if bytes.Contains(body, marker) {
			return code
		}
		return other
	}
}

// sendVia sends msgs to an InfluxDB sink with options o writing to rec.
func sendVia(t *testing.T, rec *writeRecorder, o InfluxOptions, msgs []Message) error {
	srv := httptest.NewServer(rec)
	defer srv.Close()
	o.URL = srv.URL
	s, err := NewInflux(o)
	if err != nil {
		t.Fatal(err)
	}
	return s.Send(context.Background(), msgs)
}
