package boltpages

import (
	"bytes"
	"errors"
	"fmt"
	"os"
)

// Check verifies, before bbolt opens the file, the page structure that
// bbolt walks at open. With NoFreelistSync, bbolt rebuilds its freelist by
// walking every page of the tree, and reports damage it meets from a
// goroutine of its own with panic, which no recover can catch; a damaged
// page met in the opening goroutine leaves the mmap (and so the file lock)
// behind. So Check walks the tree itself first, reading the file with
// bounds-checked slices: page ids within the file, each page referenced
// once, only branch and leaf pages, keys ordered within pages and between
// parents and children, sound inline buckets, a high water mark within the
// file (the spool releases its map's pages up to it), a saved freelist
// listing no page in use. It reads every tree page once.
//
// A file that cannot be opened, an empty file and a file without a valid
// meta page pass: bbolt reports those with errors of its own.
func Check(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return nil // bbolt reports it
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		return nil
	}
	m, ok := ReadMeta(f)
	if !ok {
		return nil // bbolt refuses the meta pages with an error of its own
	}
	ps := int64(PageSize(f))
	if int64(m.HWM)*ps > fi.Size() {
		// bbolt writes every page below the high water mark before the meta
		// page that raises it: the file lost its end.
		return fmt.Errorf("high water mark %d pages beyond the end of the file (%d bytes)", m.HWM, fi.Size())
	}
	c := &fileChecker{f: f, size: fi.Size(), ps: ps, hwm: m.HWM, scratch: make([]byte, ps), visited: map[uint64]bool{}}
	var free []uint64
	if m.Freelist != NoFreelist {
		if free, err = c.checkFreelist(m.Freelist); err != nil {
			return err
		}
	}
	if _, err = c.page(m.Root, nil, nil); err != nil {
		return err
	}
	return c.checkFree(free)
}

type fileChecker struct {
	f       *os.File
	scratch []byte // leaf pages are checked before the next page is read
	size    int64
	ps      int64
	hwm     uint64
	visited map[uint64]bool
}

// read returns page id with its overflow pages, after checking its header
// and marking it visited.
func (c *fileChecker) read(id uint64, want uint16) ([]byte, error) {
	if id < 2 || id >= c.hwm || int64(id+1)*c.ps > c.size {
		return nil, fmt.Errorf("page %d out of bounds (high water %d)", id, c.hwm)
	}
	p := c.scratch
	if _, err := c.f.ReadAt(p, int64(id)*c.ps); err != nil {
		return nil, fmt.Errorf("page %d: %w", id, err)
	}
	ov := uint64(pageOverflow(p))
	flags := pageFlags(p)
	if pageID(p) != id || flags&want == 0 || ov >= c.hwm-id || int64(id+ov+1)*c.ps > c.size {
		return nil, fmt.Errorf("page %d: bad header (id %d flags %#x overflow %d)", id, LE.Uint64(p), flags, ov)
	}
	if int64(ov+1)*c.ps > maxScanSpan {
		return nil, fmt.Errorf("page %d: %d overflow pages", id, ov)
	}
	for i := id; i <= id+ov; i++ {
		if c.visited[i] {
			return nil, fmt.Errorf("page %d: multiple references", i)
		}
		c.visited[i] = true
	}
	if ov > 0 {
		p = make([]byte, int64(ov+1)*c.ps)
		if _, err := c.f.ReadAt(p, int64(id)*c.ps); err != nil {
			return nil, fmt.Errorf("page %d: %w", id, err)
		}
	} else if flags&BranchPageFlag != 0 {
		p = bytes.Clone(p) // branch pages stay in use while their children are read
	}
	return p, nil
}

// page checks a branch or leaf page and its subtree; keys must lie in
// [min, max). It returns the largest key of the subtree.
func (c *fileChecker) page(id uint64, min, max []byte) ([]byte, error) {
	p, err := c.read(id, BranchPageFlag|LeafPageFlag)
	if err != nil {
		return nil, err
	}
	if pageFlags(p)&BranchPageFlag != 0 {
		return c.branch(id, p, min, max)
	}
	return c.leaf(id, p, min, max, true)
}

// element returns the key (and for leaves the value) of element i.
func element(p []byte, i int64, leaf bool) (flags uint32, k, v []byte, child uint64, err error) {
	e := PageHeaderSize + i*ElemSize
	n := int64(len(p))
	if e+ElemSize > n {
		return 0, nil, nil, 0, errors.New("element beyond page")
	}
	if !leaf {
		pos, ks := int64(LE.Uint32(p[e:])), int64(LE.Uint32(p[e+4:]))
		if e+pos+ks > n {
			return 0, nil, nil, 0, errors.New("branch key beyond page")
		}
		return 0, p[e+pos : e+pos+ks], nil, LE.Uint64(p[e+8:]), nil
	}
	flags = LE.Uint32(p[e:])
	pos, ks, vs := int64(LE.Uint32(p[e+4:])), int64(LE.Uint32(p[e+8:])), int64(LE.Uint32(p[e+12:]))
	if e+pos+ks+vs > n {
		return 0, nil, nil, 0, errors.New("leaf element beyond page")
	}
	return flags, p[e+pos : e+pos+ks], p[e+pos+ks : e+pos+ks+vs], 0, nil
}

func keyInRange(k, prev, max []byte, first bool) bool {
	if prev != nil && (bytes.Compare(prev, k) > 0 || !first && bytes.Equal(prev, k)) {
		return false
	}
	return max == nil || bytes.Compare(k, max) < 0
}

func (c *fileChecker) branch(id uint64, p []byte, min, max []byte) ([]byte, error) {
	count := pageCount(p)
	running := min
	var last []byte
	for i := int64(0); i < count; i++ {
		_, k, _, child, err := element(p, i, false)
		if err != nil {
			return nil, fmt.Errorf("branch page %d: %w", id, err)
		}
		if !keyInRange(k, running, max, i == 0) {
			return nil, fmt.Errorf("branch page %d: key %d out of order", id, i)
		}
		childMax := max
		if i < count-1 {
			if _, next, _, _, err := element(p, i+1, false); err == nil {
				childMax = next
			}
		}
		if last, err = c.page(child, k, childMax); err != nil {
			return nil, err
		}
		running = last
	}
	return last, nil
}

// leaf checks a leaf page; buckets found in it are checked too (inline
// buckets only when nested is allowed: an inline bucket holds no bucket).
func (c *fileChecker) leaf(id uint64, p []byte, min, max []byte, nested bool) ([]byte, error) {
	count := pageCount(p)
	running := min
	cloned := false
	for i := int64(0); i < count; i++ {
		flags, k, v, _, err := element(p, i, true)
		if err == nil && flags&BucketLeafFlag != 0 && !cloned {
			// a sub-bucket's pages are read into the scratch buffer
			p, cloned = bytes.Clone(p), true
			running = bytes.Clone(running)
			flags, k, v, _, err = element(p, i, true)
		}
		if err != nil {
			return nil, fmt.Errorf("leaf page %d: %w", id, err)
		}
		if !keyInRange(k, running, max, i == 0) {
			return nil, fmt.Errorf("leaf page %d: key %d out of order", id, i)
		}
		running = k
		if flags&BucketLeafFlag == 0 {
			continue
		}
		if err := c.bucket(id, v, nested); err != nil {
			return nil, err
		}
	}
	return bytes.Clone(running), nil // p may be the scratch buffer
}

// bucket checks a bucket value: a header, then a root page or an inline page.
func (c *fileChecker) bucket(id uint64, v []byte, nested bool) error {
	if !nested || len(v) < BucketHeaderSize {
		return fmt.Errorf("leaf page %d: bad bucket value", id)
	}
	if root := LE.Uint64(v); root != 0 {
		_, err := c.page(root, nil, nil)
		return err
	}
	inline := v[BucketHeaderSize:]
	if len(inline) < PageHeaderSize || pageFlags(inline)&LeafPageFlag == 0 {
		return fmt.Errorf("leaf page %d: bad inline bucket", id)
	}
	_, err := c.leaf(id, inline, nil, nil, false)
	return err
}

// checkFreelist checks a synced freelist page (written when the spool
// closes cleanly) and returns the page ids it lists as free.
func (c *fileChecker) checkFreelist(id uint64) ([]uint64, error) {
	p, err := c.read(id, FreelistPageFlag)
	if err != nil {
		return nil, fmt.Errorf("freelist: %w", err)
	}
	count, off := pageCount(p), int64(PageHeaderSize)
	if count == 0xFFFF {
		if len(p) < PageHeaderSize+8 {
			return nil, errors.New("freelist: short page")
		}
		count, off = int64(LE.Uint64(p[PageHeaderSize:])), PageHeaderSize+8
	}
	if count < 0 || off+count*8 > int64(len(p)) {
		return nil, errors.New("freelist: count beyond page")
	}
	free := make([]uint64, count)
	for i := range free {
		free[i] = LE.Uint64(p[off+int64(i)*8:])
	}
	return free, nil
}

// checkFree makes sure that no page listed as free is in use or listed
// twice: bbolt trusts a synced freelist and would write over such a page.
func (c *fileChecker) checkFree(free []uint64) error {
	for _, id := range free {
		if id < 2 || id >= c.hwm {
			return fmt.Errorf("freelist: page %d out of bounds (high water %d)", id, c.hwm)
		}
		if c.visited[id] {
			return fmt.Errorf("freelist: page %d is in use or listed twice", id)
		}
		c.visited[id] = true
	}
	return nil
}
