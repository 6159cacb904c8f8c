package fleet

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/edgespool/edgespool/agent/model"
)

// logHeader is the first line of a published log.
const logHeader = "generatorID,seq,time_ns,lat,lon,temperature,power,load,fuel"

// LogWriter is a Recorder that writes one CSV line per published reading.
type LogWriter struct {
	mu  sync.Mutex
	w   *bufio.Writer
	buf []byte
	err error
}

// NewLogWriter writes the header line and returns a LogWriter on w. Call
// Flush at the end.
func NewLogWriter(w io.Writer) *LogWriter {
	l := &LogWriter{w: bufio.NewWriterSize(w, 64<<10)}
	_, l.err = l.w.WriteString(logHeader + "\n")
	return l
}

// Record appends one line for r.
func (l *LogWriter) Record(r model.Reading) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	b := append(l.buf[:0], r.GeneratorID...)
	b = append(b, ',')
	b = strconv.AppendUint(b, r.Seq, 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, r.Time, 10)
	for _, v := range []float64{r.Lat, r.Lon} {
		b = append(b, ',')
		b = strconv.AppendFloat(b, v, 'f', -1, 64)
	}
	for _, v := range []int64{r.Temperature, r.Power, r.Load, r.Fuel} {
		b = append(b, ',')
		b = strconv.AppendInt(b, v, 10)
	}
	b = append(b, '\n')
	l.buf = b
	_, l.err = l.w.Write(b)
	return l.err
}

// Flush writes buffered lines.
func (l *LogWriter) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	return l.w.Flush()
}

// ErrBadLog is wrapped by ReadLog errors about the content of a log.
var ErrBadLog = errors.New("bad published log")

// ReadLog calls fn for every reading of a log written by LogWriter.
func ReadLog(r io.Reader, fn func(model.Reading) error) error {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 0; s.Scan(); line++ {
		if line == 0 {
			if s.Text() != logHeader {
				return fmt.Errorf("%w: unexpected header %q", ErrBadLog, s.Text())
			}
			continue
		}
		rd, err := parseLogLine(s.Text())
		if err != nil {
			return fmt.Errorf("%w: line %d: %v", ErrBadLog, line+1, err)
		}
		if err := fn(rd); err != nil {
			return err
		}
	}
	return s.Err()
}

func parseLogLine(line string) (model.Reading, error) {
	var r model.Reading
	f := strings.Split(line, ",")
	if len(f) != 9 {
		return r, fmt.Errorf("%d fields, want 9", len(f))
	}
	r.GeneratorID = f[0]
	var errs [9]error
	r.Seq, errs[1] = strconv.ParseUint(f[1], 10, 64)
	r.Time, errs[2] = strconv.ParseInt(f[2], 10, 64)
	r.Lat, errs[3] = strconv.ParseFloat(f[3], 64)
	r.Lon, errs[4] = strconv.ParseFloat(f[4], 64)
	r.Temperature, errs[5] = strconv.ParseInt(f[5], 10, 64)
	r.Power, errs[6] = strconv.ParseInt(f[6], 10, 64)
	r.Load, errs[7] = strconv.ParseInt(f[7], 10, 64)
	r.Fuel, errs[8] = strconv.ParseInt(f[8], 10, 64)
	return r, errors.Join(errs[:]...)
}
