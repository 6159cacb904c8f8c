package spool

import (
	"encoding/binary"
	"io"
	"os"
)

// A page scan reads a damaged bbolt file page by page, without its meta
// pages or tree, and reports every key/value of every leaf page (inline
// buckets included). Values of the spool are self-checking, so the scan
// finds what survived a torn tail, garbage pages or lost meta pages.
// bbolt pages are laid out in the machine's byte order; every platform the
// spool is built for is little-endian.

const (
	pageHeaderSize = 16
	leafElemSize   = 16
	leafPageFlag   = 0x02
	bucketLeafFlag = 0x01
	boltMagic      = 0xED0CDAED
	maxScanSpan    = 64 << 20 // largest leaf (with overflow pages) parsed
)

var le = binary.LittleEndian

// scanPages calls fn for every key/value found on a leaf page of the file.
func scanPages(path string, fn func(k, v []byte)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	ps := int64(pageSizeOf(f))
	buf := make([]byte, ps)
	for id := int64(2); (id+1)*ps <= size; id++ {
		if _, err := f.ReadAt(buf, id*ps); err != nil {
			return err
		}
		if le.Uint64(buf) != uint64(id) || le.Uint16(buf[8:]) != leafPageFlag {
			continue
		}
		page := buf
		if ov := int64(le.Uint32(buf[12:])); ov > 0 {
			span := (ov + 1) * ps
			if span > maxScanSpan || id*ps+span > size {
				continue
			}
			page = make([]byte, span)
			if _, err := f.ReadAt(page, id*ps); err != nil && err != io.EOF {
				continue
			}
			id += ov
		}
		parseLeaf(page, 0, fn)
	}
	return nil
}

// pageSizeOf reads the page size from a valid meta page, else the OS's.
func pageSizeOf(f *os.File) int {
	def := os.Getpagesize()
	for _, off := range []int64{0, int64(def)} {
		var m [32]byte
		if _, err := f.ReadAt(m[:], off); err != nil {
			continue
		}
		if le.Uint32(m[16:]) == boltMagic {
			if ps := int(le.Uint32(m[24:])); ps >= 512 && ps <= 1<<20 && ps&(ps-1) == 0 {
				return ps
			}
		}
	}
	return def
}

// parseLeaf reports the elements of the leaf page at p[off:], descending
// into inline buckets. It checks every bound and never panics.
func parseLeaf(p []byte, depth int, fn func(k, v []byte)) {
	if len(p) < pageHeaderSize || depth > 4 {
		return
	}
	count := int64(le.Uint16(p[10:]))
	n := int64(len(p))
	for i := int64(0); i < count; i++ {
		e := pageHeaderSize + i*leafElemSize
		if e+leafElemSize > n {
			return
		}
		flags := le.Uint32(p[e:])
		pos, ks, vs := int64(le.Uint32(p[e+4:])), int64(le.Uint32(p[e+8:])), int64(le.Uint32(p[e+12:]))
		ko := e + pos
		if ko+ks+vs > n || ks == 0 {
			continue
		}
		k, v := p[ko:ko+ks], p[ko+ks:ko+ks+vs]
		if flags&bucketLeafFlag != 0 {
			if len(v) > 16 && le.Uint64(v) == 0 { // inline bucket: header, then a page
				parseLeaf(v[16:], depth+1, fn)
			}
			continue
		}
		fn(k, v)
	}
}
