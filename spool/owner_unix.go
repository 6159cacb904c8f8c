//go:build unix

package spool

import (
	"fmt"
	"os"
	"syscall"
)

// keepOwnerOf gives dst the owner, group and permission bits of src: the
// files that replace the spool file (compaction, salvage) are created by
// whoever runs the spool, root for a maintenance command, and must not
// take the file away from the user the agent runs as.
func keepOwnerOf(src, dst string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("stat %s: %w", src, err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if err := os.Chown(dst, int(st.Uid), int(st.Gid)); err != nil {
			return fmt.Errorf("keep owner: %w", err)
		}
	}
	if err := os.Chmod(dst, fi.Mode().Perm()); err != nil {
		return fmt.Errorf("keep mode: %w", err)
	}
	return nil
}
