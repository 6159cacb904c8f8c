package uplink

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/edgespool/edgespool/agent/clock"
	"github.com/edgespool/edgespool/agent/model"

	ihttp "github.com/influxdata/influxdb-client-go/v2/api/http"
	"github.com/influxdata/line-protocol/v2/lineprotocol"
)

// MinParallelPoints is the smallest request a Send is split into for
// parallel writes: below it, InfluxDB's per-request cost dominates (chosen
// with agent/e2e BenchmarkLiveLatency).
const MinParallelPoints = 250

// Default InfluxDB buckets (the reference pipeline).
const (
	DefaultRawBucket         = "kafka"
	DefaultDownsampledBucket = "kafka_downsampled"
)

// InfluxOptions configure an InfluxDB sink. The zero value of every field
// but URL means its default.
//
// InfluxDB 2.x and Cloud: Org, a bucket name per stream, Token = API
// token. InfluxDB 1.8+: Org empty, bucket = "database/retention-policy" (or
// just "database" for its default policy), Token = "user:password" (empty
// when authentication is off). Both go through the /api/v2/write endpoint.
type InfluxOptions struct {
	URL   string // e.g. http://influx:8086 (required)
	Org   string
	Token string
	// Buckets maps a spool stream to its bucket (default raw → kafka,
	// downsampled → kafka_downsampled).
	Buckets map[string]string
	// BatchPoints and BatchBytes bound one write request (defaults 10000
	// points, 4 MiB of line protocol before compression); a larger Send is
	// written in several requests. BatchPoints is also the forwarders'
	// batch.
	BatchPoints, BatchBytes int
	// Parallel is how many write requests one Send may have in flight
	// (default 2). A Send is split into up to Parallel requests of
	// n/Parallel points, at least MinParallelPoints (the last may be
	// smaller), posted at once: InfluxDB parses and indexes each request on
	// its own core, and a replayed point overwrites itself, so the order of
	// the requests does not matter.
	Parallel int
	// NoGzip sends uncompressed bodies (default: gzip, fastest level).
	NoGzip bool
	// Timeout bounds one write request (default 30s).
	Timeout time.Duration
	// MaxBytesPerSecond caps the request body bytes (after compression)
	// sent per second (0: no cap).
	MaxBytesPerSecond int64
	TLS               TLSOptions
	Name              string // sink name in logs and metrics (default "influx")
	Logger            *slog.Logger
	Clock             clock.Clock
}

// Influx is a Sink writing line protocol to InfluxDB (measurement genData,
// tags generatorID and, downsampled, region; timestamps = event time).
// A replayed point has the same series and timestamp, so it overwrites
// itself: replays are harmless.
type Influx struct {
	o     InfluxOptions
	svc   ihttp.Service
	limit *rateLimiter
	urls  map[string]string // stream -> write URL
}

// gzipWriters reuses compressors; request bodies themselves are never
// reused, since the HTTP transport may still read one after Do returned.
var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	return w
}}

// NewInflux returns an InfluxDB sink. It does not connect: the first Send
// does.
func NewInflux(o InfluxOptions) (*Influx, error) {
	if o.URL == "" {
		return nil, errors.New("influx: no URL")
	}
	if _, err := url.Parse(o.URL); err != nil {
		return nil, fmt.Errorf("influx: %w", err)
	}
	o = influxDefaults(o)
	tlsConf, err := o.TLS.Config()
	if err != nil {
		return nil, fmt.Errorf("influx: %w", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConf
	tr.MaxIdleConnsPerHost = 4
	client := &http.Client{Transport: tr, Timeout: o.Timeout}
	auth := ""
	if o.Token != "" {
		auth = "Token " + o.Token
	}
	svc := ihttp.NewService(strings.TrimSuffix(o.URL, "/")+"/", auth, ihttp.DefaultOptions().SetHTTPClient(client))
	in := &Influx{o: o, svc: svc, limit: newRateLimiter(o.MaxBytesPerSecond, o.Clock), urls: map[string]string{}}
	for stream, bucket := range o.Buckets {
		q := url.Values{"org": {o.Org}, "bucket": {bucket}, "precision": {"ns"}}
		in.urls[stream] = svc.ServerAPIURL() + "write?" + q.Encode()
	}
	return in, nil
}

func influxDefaults(o InfluxOptions) InfluxOptions {
	if o.Buckets == nil {
		o.Buckets = map[string]string{
			model.StreamRaw:         DefaultRawBucket,
			model.StreamDownsampled: DefaultDownsampledBucket,
		}
	}
	setDefault(&o.BatchPoints, 10000)
	setDefault(&o.BatchBytes, 4<<20)
	setDefault(&o.Parallel, 2)
	setDefault(&o.Timeout, 30*time.Second)
	setDefault(&o.Name, "influx")
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Name returns the sink's name.
func (in *Influx) Name() string { return in.o.Name }

// BatchLimits returns the forwarders' batch bound: BatchPoints.
func (in *Influx) BatchLimits() BatchLimits { return BatchLimits{Records: in.o.BatchPoints} }

// Close releases idle connections.
func (in *Influx) Close() error {
	if c, ok := in.svc.(interface{ HTTPClient() *http.Client }); ok {
		c.HTTPClient().CloseIdleConnections()
	}
	return nil
}

// Send writes msgs as points, in requests of at most BatchPoints points
// and BatchBytes bytes, up to Parallel of them at once. A request the
// server refused for good as a whole (every point dropped) is reported in
// Error.Rejected; any other failure is that of the first failed request in
// msgs' order (points of the other requests may have been written: a retry
// writes them again, harmlessly).
func (in *Influx) Send(ctx context.Context, msgs []Message) error {
	lines, ends, err := in.encode(msgs)
	if err != nil {
		return err
	}
	var reqs []span
	limit := in.requestPoints(len(msgs))
	for start := 0; start < len(msgs); {
		end := in.chunkEnd(msgs, ends, start, limit)
		reqs = append(reqs, span{start, end})
		start = end
	}
	errs := in.writeAll(ctx, reqs, func(ctx context.Context, r span) error {
		return in.write(ctx, in.urls[msgs[r.start].Stream], lines[lineStart(ends, r.start):ends[r.end-1]], r.end-r.start)
	})
	return outcome(reqs, errs)
}

// span is one request's messages, msgs[start:end].
type span struct{ start, end int }

// requestPoints returns the points per request for a Send of n points:
// n/Parallel, but at least MinParallelPoints and at most BatchPoints (so a
// Send of 400 points goes out as 250 and 150; in paired runs this beat
// splitting only from 2*MinParallelPoints on).
func (in *Influx) requestPoints(n int) int {
	per := (n + in.o.Parallel - 1) / in.o.Parallel
	return min(in.o.BatchPoints, max(per, MinParallelPoints))
}

// writeAll runs write for every request, at most Parallel at a time, and
// returns the error of each. A failure other than a request refused as a
// whole cancels the requests still in flight: the Send fails anyway.
func (in *Influx) writeAll(ctx context.Context, reqs []span, write func(context.Context, span) error) []error {
	errs := make([]error, len(reqs))
	if len(reqs) == 1 || in.o.Parallel == 1 {
		for i, r := range reqs {
			if i > 0 && errs[i-1] != nil && !refused(errs[i-1]) {
				errs[i] = errNotSent
				continue
			}
			errs[i] = write(ctx, r)
		}
		return errs
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	slots := make(chan struct{}, in.o.Parallel)
	var wg sync.WaitGroup
	for i, r := range reqs {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			if errs[i] = write(ctx, r); errs[i] != nil && !refused(errs[i]) {
				cancel()
			}
		})
	}
	wg.Wait()
	return errs
}

// errNotSent marks the requests after a failed one, in sequential mode.
var errNotSent = errors.New("influx: request not sent after an earlier failure")

// refused reports whether err says the server refused a whole request.
func refused(err error) bool {
	_, _, ok := RejectedOf(err)
	return ok
}

// outcome is the error of a Send from the errors of its requests: nil when
// all succeeded; the first failure when no request was refused as a whole;
// else an *Error whose Rejected lists the points of the refused requests
// and Failed those of the other failed (or unsent) requests, of the class
// of the first of these (ClassPermanent when there are none).
func outcome(reqs []span, errs []error) error {
	var refusal error
	var others []error
	var rejected, failed []int
	for i, err := range errs {
		switch {
		case err == nil:
		case refused(err):
			refusal = cmp.Or(refusal, err)
			rejected = appendRange(rejected, reqs[i].start, reqs[i].end)
		default:
			others = append(others, err)
			failed = appendRange(failed, reqs[i].start, reqs[i].end)
		}
	}
	if refusal == nil {
		return firstError(errs)
	}
	var e *Error
	errors.As(refusal, &e)
	out := &Error{Class: ClassPermanent, Index: -1, Rejected: rejected, Failed: failed, Err: e.Err}
	if first := firstError(others); first != nil {
		out.Class, out.RetryAfter = ClassOf(first), RetryAfter(first)
	}
	if out.Failed == nil {
		out.Failed = []int{}
	}
	return fmt.Errorf("influx write: %w", out)
}

func appendRange(pos []int, start, end int) []int {
	for i := start; i < end; i++ {
		pos = append(pos, i)
	}
	return pos
}

// encode encodes msgs as line protocol, one line each, and returns the
// lines and the end offset of each.
func (in *Influx) encode(msgs []Message) ([]byte, []int, error) {
	var enc lineprotocol.Encoder
	enc.SetBuffer(make([]byte, 0, 160*len(msgs)))
	enc.SetPrecision(lineprotocol.Nanosecond)
	ends := make([]int, len(msgs))
	for i, m := range msgs {
		if _, ok := in.urls[m.Stream]; !ok {
			return nil, nil, AtIndex(i, Permanent(fmt.Errorf("influx: no bucket for stream %q", m.Stream)))
		}
		it, err := decode(m)
		if err == nil {
			err = appendLine(&enc, it)
		}
		if err != nil {
			return nil, nil, AtIndex(i, err)
		}
		ends[i] = len(enc.Bytes())
	}
	return enc.Bytes(), ends, nil
}

func lineStart(ends []int, i int) int {
	if i == 0 {
		return 0
	}
	return ends[i-1]
}

// chunkEnd returns the end of the request that starts at msgs[start]: one
// stream, at most limit points and BatchBytes bytes (at least one).
func (in *Influx) chunkEnd(msgs []Message, ends []int, start, limit int) int {
	from := lineStart(ends, start)
	end := start + 1
	for end < len(msgs) && end-start < limit &&
		msgs[end].Stream == msgs[start].Stream && ends[end]-from <= in.o.BatchBytes {
		end++
	}
	return end
}

// write posts one request body of line protocol holding points points.
func (in *Influx) write(ctx context.Context, writeURL string, lines []byte, points int) error {
	body := lines
	if !in.o.NoGzip {
		var buf bytes.Buffer
		buf.Grow(len(lines) / 4)
		gz := gzipWriters.Get().(*gzip.Writer)
		gz.Reset(&buf)
		_, _ = gz.Write(lines) // bytes.Buffer writes do not fail
		err := gz.Close()
		gzipWriters.Put(gz)
		if err != nil {
			return fmt.Errorf("influx gzip: %w", err)
		}
		body = buf.Bytes()
	}
	if err := in.limit.wait(ctx, len(body)); err != nil {
		return err
	}
	perr := in.svc.DoPostRequest(ctx, writeURL, bytes.NewReader(body), func(req *http.Request) {
		req.Header.Set("Content-Type", "text/plain; charset=utf-8")
		if !in.o.NoGzip {
			req.Header.Set("Content-Encoding", "gzip")
		}
	}, func(resp *http.Response) error {
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	})
	if perr != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		err := classifyInflux(perr, clock.Or(in.o.Clock).Now())
		if droppedAll(perr, points) {
			err = &Error{Class: ClassPermanent, Index: -1, Rejected: appendRange(nil, 0, points), Failed: []int{}, Err: perr}
		}
		in.o.Logger.Debug("influx write failed", "sink", in.o.Name, "status", perr.StatusCode, "err", err)
		return fmt.Errorf("influx write: %w", err)
	}
	return nil
}

// firstError returns the first non-nil error that is not a cancellation
// caused by another, else the first cancellation.
func firstError(errs []error) error {
	var canceled error
	for _, err := range errs {
		switch {
		case err == nil:
		case errors.Is(err, context.Canceled):
			if canceled == nil {
				canceled = err
			}
		default:
			return err
		}
	}
	return canceled
}
