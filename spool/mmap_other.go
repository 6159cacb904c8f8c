//go:build !linux

package spool

import "os"

// mmapFlags are bbolt's extra mmap flags (none here).
const mmapFlags = 0

// readAhead is a no-op where posix_fadvise is not available.
func readAhead(*os.File) {}

// releaseMap is a no-op here: the map's pages stay mapped until the file
// is closed.
func releaseMap(uintptr, int64) error { return nil }
