package spool

import (
	"fmt"
	"os"
)

// RepairReport says what opening a spool repaired.
type RepairReport struct {
	// Salvaged: the file failed its checks; what checked out was copied
	// into a fresh file and the damaged file was kept at MovedTo.
	Salvaged bool
	MovedTo  string
	// Kept counts the records of a salvaged file; Lost the records known
	// lost (by salvage, or found failing their checksum and removed).
	Kept, Lost uint64
	// Notes list the repairs made in place (stream states rebuilt, cursors
	// moved back or removed, records removed).
	Notes []string
}

// Repair opens the spool at path through the checks of Open, salvaging a
// damaged file and fixing what the scan at open finds, and closes it. No
// consumer is configured (no cursor is removed and nothing deleted by
// acknowledgement); the caps in o still apply. A missing file is an error;
// a file that is not a spool is ErrNotSpool and left untouched.
func Repair(path string, o Options) (RepairReport, error) {
	if _, err := os.Stat(path); err != nil {
		return RepairReport{}, fmt.Errorf("spool repair: %w", err)
	}
	o.Consumers, o.NoSalvage = nil, false
	s, err := Open(path, o)
	if err != nil {
		return RepairReport{}, err
	}
	rep := s.report
	if err := s.Close(); err != nil {
		return rep, err
	}
	return rep, nil
}
