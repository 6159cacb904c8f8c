//go:build linux

package spool

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// mmapFlags are bbolt's extra mmap flags. MAP_POPULATE is not used: it maps
// the whole file into the process at every open and every growth of the
// map, so the resident set would be at least the spool file's size.
const mmapFlags = 0

// readAhead asks the kernel to read the file into the page cache: the open
// reads all of it (bbolt's freelist walk after a crash, the spool's
// checksum scan), which is many times faster on a cold cache when the
// file is read ahead in one go.
func readAhead(f *os.File) {
	_ = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_WILLNEED)
}

// releaseMap drops this process's mappings of the size bytes of file pages
// mapped at addr (see mapped.go). The range is passed as integers: it is
// the map bbolt owns, never Go memory.
func releaseMap(addr uintptr, size int64) error {
	if addr == 0 || size <= 0 {
		return nil
	}
	if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, addr, uintptr(size), syscall.MADV_DONTNEED); e != 0 {
		return e
	}
	return nil
}
