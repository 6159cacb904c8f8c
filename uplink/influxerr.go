package uplink

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	ihttp "github.com/influxdata/influxdb-client-go/v2/api/http"
)

// classifyInflux classifies a failed write by its HTTP status:
//
//	400, 422  ClassPermanent: the data is bad. InfluxDB 1.8 answers 400
//	          "partial write: field type conflict ... dropped=N" (2.x: 422)
//	          and HAS written the other points of the request; writing them
//	          again while the bad point is isolated only overwrites them.
//	413       ClassTooLarge
//	429, 503  ClassThrottled with the Retry-After header (seconds or date)
//	other     ClassRetryable: network errors, 5xx, and 401/403/404, which
//	          are configuration problems (token, database, bucket) that an
//	          operator fixes without the data being lost.
//
// A 400 that names no problem with the points themselves (e.g. a malformed
// query parameter) is also ClassRetryable: it would otherwise dead-letter
// every record.
func classifyInflux(e *ihttp.Error, now time.Time) error {
	switch e.StatusCode {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		if badData(e.Message) {
			return Permanent(e)
		}
		return Retryable(e)
	case http.StatusRequestEntityTooLarge:
		return TooLarge(e)
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return Throttled(e, retryAfter(e, now))
	}
	return Retryable(e)
}

// badData reports whether an InfluxDB 400/422 message is about the points.
func badData(msg string) bool {
	msg = strings.ToLower(msg)
	for _, s := range []string{"partial write", "unable to parse", "field type conflict",
		"beyond retention", "max-values-per-tag"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// droppedAll reports whether a rejection says that the server dropped
// every point of a request of n points: InfluxDB ends a partial-write
// message with "dropped=N" (field type conflicts, points beyond the
// retention policy, max-values-per-tag), and has written the others.
func droppedAll(e *ihttp.Error, n int) bool {
	if e.StatusCode != http.StatusBadRequest && e.StatusCode != http.StatusUnprocessableEntity {
		return false
	}
	i := strings.LastIndex(e.Message, "dropped=")
	if i < 0 {
		return false
	}
	digits := e.Message[i+len("dropped="):]
	if j := strings.IndexFunc(digits, func(r rune) bool { return r < '0' || r > '9' }); j >= 0 {
		digits = digits[:j]
	}
	dropped, err := strconv.Atoi(digits)
	return err == nil && dropped >= n && n > 0
}

// retryAfter returns the Retry-After wait: the client parsed the seconds
// form; the HTTP-date form is parsed here.
func retryAfter(e *ihttp.Error, now time.Time) time.Duration {
	if e.RetryAfter > 0 {
		return time.Duration(e.RetryAfter) * time.Second
	}
	if e.Header == nil {
		return 0
	}
	if t, err := http.ParseTime(e.Header.Get("Retry-After")); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
