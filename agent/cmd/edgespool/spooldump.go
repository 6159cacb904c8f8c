package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/edgespool/edgespool/agent/model"
	"github.com/edgespool/edgespool/spool"
)

// `spool dump` prints one JSON object per record: the record's place
// (stream, seq, key, time) and its value decoded by the stream's codec.

func spoolDump(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("spool dump", "spool dump [-stream raw] [-after SEQ] [-limit N] -spool FILE", stderr)
	path := fs.String("spool", defaultSpool, "spool file")
	stream := fs.String("stream", model.StreamRaw, "stream: raw, downsampled or deadletter")
	after := fs.Uint64("after", 0, "print records with a higher sequence number")
	limit := fs.Int("limit", 0, "print at most this many records (0: all)")
	if err := parse(fs, args); err != nil {
		return err
	}
	s, err := openReadOnly(*path)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := knownStream(s, *stream); err != nil {
		return err
	}
	return dumpRecords(s, *stream, *after, *limit, json.NewEncoder(stdout))
}

// knownStream fails for a stream the spool has never held, listing those
// it has.
func knownStream(s *spool.Spool, stream string) error {
	var known []string
	for name := range s.Stats().Streams {
		known = append(known, name)
	}
	slices.Sort(known)
	if !slices.Contains(known, stream) {
		return fmt.Errorf("no stream %q in %s (streams: %s)", stream, s.Path(), strings.Join(known, ", "))
	}
	return nil
}

func dumpRecords(s *spool.Spool, stream string, after uint64, limit int, enc *json.Encoder) error {
	n := 0
	errStop := errors.New("limit reached")
	err := s.Scan(stream, after, func(r spool.Record) error {
		if limit > 0 && n >= limit {
			return errStop
		}
		n++
		return enc.Encode(dumpLine(r))
	})
	if errors.Is(err, errStop) {
		err = nil
	}
	return err
}

// line is one JSON line of `spool dump`.
type line struct {
	Stream string `json:"stream"`
	Seq    uint64 `json:"seq"`
	Key    string `json:"key"`
	Time   string `json:"time"`
	// Exactly one of the following is set.
	Reading    *model.Reading `json:"reading,omitempty"`
	Point      *model.Point   `json:"point,omitempty"`
	DeadLetter *deadLetter    `json:"dead_letter,omitempty"`
	Value      *payload       `json:"value,omitempty"`
	// Error says why the value did not decode (Value then holds it).
	Error string `json:"error,omitempty"`
}

// deadLetter is a dead letter with its payload readable.
type deadLetter struct {
	model.DeadLetter
	Payload payload `json:"payload"`
}

// payload is bytes shown as JSON when they are JSON, as text when UTF-8,
// and base64 only when binary.
type payload []byte

func (p payload) MarshalJSON() ([]byte, error) {
	switch {
	case len(p) > 0 && json.Valid(p):
		return json.Marshal(map[string]json.RawMessage{"json": json.RawMessage(p)})
	case utf8.Valid(p):
		return json.Marshal(map[string]string{"text": string(p)})
	}
	return json.Marshal(map[string]string{"base64": base64.StdEncoding.EncodeToString(p)})
}

func dumpLine(r spool.Record) line {
	l := line{Stream: r.Stream, Seq: r.Seq, Key: r.Key, Time: time.Unix(0, r.Time).UTC().Format(time.RFC3339Nano)}
	var err error
	switch r.Stream {
	case model.StreamRaw:
		var v model.Reading
		if v, err = model.DecodeReading(r.Value); err == nil {
			l.Reading = &v
		}
	case model.StreamDownsampled:
		var v model.Point
		if v, err = model.DecodePoint(r.Value); err == nil {
			l.Point = &v
		}
	case model.StreamDeadLetter:
		var v model.DeadLetter
		if v, err = model.DecodeDeadLetter(r.Value); err == nil {
			l.DeadLetter = &deadLetter{DeadLetter: v, Payload: v.Payload}
		}
	default:
		l.Value = (*payload)(&r.Value)
	}
	if err != nil {
		l.Error, l.Value = err.Error(), (*payload)(&r.Value)
	}
	return l
}
