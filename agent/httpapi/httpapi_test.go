package httpapi

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "edgespool_test_total", Help: "x"})
	reg.MustRegister(c)
	c.Add(3)
	var readyErr error = errors.New("mqtt not subscribed")
	h := Handler(Options{Gatherer: reg, Ready: func() error { return readyErr },
		Status: func() any { return map[string]int{"backlog": 7} }})
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		b, _ := io.ReadAll(rec.Result().Body)
		return rec.Code, string(b)
	}
	for _, c := range []struct {
		path, body string
		code       int
	}{
		{"/healthz", "ok", 200},
		{"/readyz", "mqtt not subscribed", http.StatusServiceUnavailable},
		{"/metrics", "edgespool_test_total 3", 200},
		{"/status", `"backlog": 7`, 200},
		{"/nope", "not found", 404},
	} {
		code, body := get(c.path)
		if code != c.code || !strings.Contains(body, c.body) {
			t.Errorf("%s: %d %q", c.path, code, body)
		}
	}
	readyErr = nil
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("ready: %d", code)
	}
}
