//go:build !unix

package spool

import (
	"fmt"
	"os"
)

// keepOwnerOf gives dst the permission bits of src (see owner_unix.go).
func keepOwnerOf(src, dst string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("stat %s: %w", src, err)
	}
	if err := os.Chmod(dst, fi.Mode().Perm()); err != nil {
		return fmt.Errorf("keep mode: %w", err)
	}
	return nil
}
