package uplink

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent/model"
)

func TestInfluxStatusClasses(t *testing.T) {
	date := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	cases := []struct {
		name   string
		status int
		header map[string]string
		body   string
		class  Class
		after  time.Duration
	}{
		{"field type conflict", 400, nil, `{"error":"partial write: field type conflict: input field \"fuel\" on measurement \"genData\" is type float, already exists as type integer dropped=1"}`, ClassPermanent, 0},
		{"parse", 400, nil, `{"error":"unable to parse 'x': bad"}`, ClassPermanent, 0},
		{"v2 unprocessable", 422, nil, `{"code":"unprocessable entity","message":"failure writing points to database: partial write: dropped=3"}`, ClassPermanent, 0},
		{"400 not about data", 400, nil, `{"error":"invalid precision \"xx\""}`, ClassRetryable, 0},
		{"too large", 413, nil, `{"error":"Request Entity Too Large"}`, ClassTooLarge, 0},
		{"429 seconds", 429, map[string]string{"Retry-After": "7"}, ``, ClassThrottled, 7 * time.Second},
		{"503 date", 503, map[string]string{"Retry-After": date}, ``, ClassThrottled, 90 * time.Second},
		{"503 no header", 503, nil, ``, ClassThrottled, 0},
		{"500", 500, nil, `{"error":"engine: cache maximum memory size exceeded"}`, ClassRetryable, 0},
		{"401", 401, nil, `{"error":"authorization failed"}`, ClassRetryable, 0},
		{"404 db", 404, nil, `{"error":"database not found: \"kafka\""}`, ClassRetryable, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "application/json")
				if c.status == 400 || c.status == 500 || c.status == 404 {
					w.Header().Set("X-Influxdb-Error", c.body) // as InfluxDB 1.8 does
				}
				for k, v := range c.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(c.status)
				_, _ = io.WriteString(w, c.body)
			}))
			defer srv.Close()
			s, err := NewInflux(InfluxOptions{URL: srv.URL})
			if err != nil {
				t.Fatal(err)
			}
			err = s.Send(context.Background(), []Message{rawMessage(reading(1, 1))})
			if ClassOf(err) != c.class || err == nil {
				t.Fatalf("err %v: class %v, want %v", err, ClassOf(err), c.class)
			}
			if d := RetryAfter(err); d < c.after-2*time.Second || d > c.after {
				t.Errorf("RetryAfter %v, want %v", d, c.after)
			}
		})
	}
}

func TestInfluxNetworkErrorRetryable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	s, _ := NewInflux(InfluxOptions{URL: srv.URL})
	err := s.Send(context.Background(), []Message{rawMessage(reading(1, 1))})
	if err == nil || ClassOf(err) != ClassRetryable || IsRejected(err) {
		t.Fatalf("closed server: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Send(ctx, []Message{rawMessage(reading(1, 1))}); !errors.Is(err, context.Canceled) || IsRejected(err) {
		t.Fatalf("cancelled: %v", err)
	}
}

func rawMessage(r model.Reading) Message {
	return Message{Stream: model.StreamRaw, Key: r.GeneratorID, Time: r.Time, Value: model.AppendReading(nil, r)}
}
