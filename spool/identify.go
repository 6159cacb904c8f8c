package spool

import (
	"errors"
	"fmt"

	"github.com/edgespool/edgespool/spool/internal/boltpages"
)

// Telling a spool from a foreign file. Salvage moves the file at the spool
// path aside and writes a fresh one in its place; it must never do that to
// a file that is not a spool (a configuration file given by mistake, a log,
// another program's database). A file is a spool when bbolt opens it and it
// holds the spool's buckets, or, when it is damaged, when a page scan finds
// the format marker or any stream state, cursor or record whose checksum
// holds.

// ErrNotSpool: the file at the path is not an edgespool spool (an empty
// bbolt database is taken as a new spool; an empty or missing file is
// created as one by Open).
var ErrNotSpool = errors.New("not an edgespool spool")

// notSpoolError says why a file is not a spool.
type notSpoolError struct {
	path, why string
}

func (e *notSpoolError) Error() string {
	return fmt.Sprintf("%s: %s (%s); refusing to touch it", e.path, ErrNotSpool, e.why)
}

func (e *notSpoolError) Unwrap() error { return ErrNotSpool }

// errForeignBuckets is returned by the scan at open for a sound bbolt file
// without the spool's buckets; errFormat for a spool of another format.
var (
	errForeignBuckets = errors.New("a bbolt database without the spool's buckets")
	errFormat         = errors.New("format marker unknown to this build")
)

// looksLikeSpool scans the pages of a damaged file for anything only a
// spool writes.
func (s *Spool) looksLikeSpool() bool {
	names := map[string]bool{}
	for n := range s.opts.Priority {
		names[n] = true
	}
	for n := range s.opts.Consumers {
		names[n] = true
	}
	found := false
	_ = guard(func() error {
		return boltpages.Scan(s.path, func(k, v []byte) {
			if !found {
				found = spoolValue(k, v, names)
			}
		})
	})
	return found
}

// spoolValue reports a key/value that only a spool writes.
func spoolValue(k, v []byte, names map[string]bool) bool {
	if string(k) == string(keyFormat) && string(v) == formatMarker {
		return true
	}
	if len(v) == streamStateLen && checkName("stream", string(k)) == nil {
		if _, err := decodeStreamState(v); err == nil {
			return true
		}
	}
	if _, ok := parseCursorKey(k); ok {
		if _, err := decodeCursor(v); err == nil {
			return true
		}
	}
	if seq, ok := keySeq(k); ok && len(v) > recordHeaderLen && v[0] == formatVersion {
		for n := range names {
			if _, err := decodeRecord(n, seq, v); err == nil {
				return true
			}
		}
	}
	return false
}

// damagedOrForeign turns the failure of a file's checks into the error
// Open returns: nil for a damaged spool (to salvage), a notSpoolError for
// anything else.
func (s *Spool) damagedOrForeign(cause error) error {
	switch {
	case errors.Is(cause, errForeignBuckets), errors.Is(cause, errFormat):
		return &notSpoolError{s.path, cause.Error()}
	case !s.looksLikeSpool():
		return &notSpoolError{s.path, "no spool data found: " + cause.Error()}
	}
	return nil
}
