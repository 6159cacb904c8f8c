package spool

import (
	"errors"
	"fmt"
	"os"
)

// OpenReadOnly opens an existing spool for inspection (Stats, Read, Scan,
// Cursor): bbolt read-only with a shared lock, no salvage, no repair, no
// retention, no cursor change; every write returns ErrReadOnly and the file
// is left byte for byte as it was. A missing file is an error wrapping
// os.ErrNotExist; an empty file or a file that is not a spool is
// ErrNotSpool; a damaged spool is ErrCorrupt; a running agent holding the
// file is ErrLocked.
func OpenReadOnly(path string, o Options) (*Spool, error) {
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return nil, fmt.Errorf("spool open: %w", err)
	case fi.Size() == 0:
		return nil, &notSpoolError{path, "empty file"}
	case !fi.Mode().IsRegular():
		return nil, &notSpoolError{path, "not a regular file"}
	}
	o.Consumers, o.Registerer = nil, nil
	s, err := newSpool(path, o)
	if err != nil {
		return nil, err
	}
	s.readOnly = true
	db, res, err := s.openCheckedMode(true)
	var cf *corruptFileError
	if errors.As(err, &cf) {
		if ferr := s.damagedOrForeign(cf.cause); ferr != nil {
			return nil, ferr
		}
		return nil, fmt.Errorf("spool %s damaged (edgespool spool repair salvages it): %v: %w", path, cf.cause, ErrCorrupt)
	}
	if err != nil {
		return nil, err
	}
	s.db, s.streams, s.cursors = db, res.streams, res.cursors
	close(s.loopDone)
	return s, nil
}
