package boltpages

import (
	"io"
	"os"
)

// A page scan reads a damaged bbolt file page by page, without its meta
// pages or tree, and reports every key/value of every leaf page (inline
// buckets included). Values of the spool are self-checking, so the scan
// finds what survived a torn tail, garbage pages or lost meta pages.

// Scan calls fn for every key/value found on a leaf page of the file.
func Scan(path string, fn func(k, v []byte)) error {
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
	ps := int64(PageSize(f))
	buf := make([]byte, ps)
	for id := int64(2); (id+1)*ps <= size; id++ {
		if _, err := f.ReadAt(buf, id*ps); err != nil {
			return err
		}
		if pageID(buf) != uint64(id) || pageFlags(buf) != LeafPageFlag {
			continue
		}
		page := buf
		if ov := pageOverflow(buf); ov > 0 {
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
		ParseLeaf(page, 0, fn)
	}
	return nil
}

// ParseLeaf reports the elements of the leaf page at p, descending into
// inline buckets (depth counts the nesting). It checks every bound and
// never panics.
func ParseLeaf(p []byte, depth int, fn func(k, v []byte)) {
	if len(p) < PageHeaderSize || depth > 4 {
		return
	}
	count := pageCount(p)
	n := int64(len(p))
	for i := int64(0); i < count; i++ {
		e := PageHeaderSize + i*ElemSize
		if e+ElemSize > n {
			return
		}
		flags := LE.Uint32(p[e:])
		pos, ks, vs := int64(LE.Uint32(p[e+4:])), int64(LE.Uint32(p[e+8:])), int64(LE.Uint32(p[e+12:]))
		ko := e + pos
		if ko+ks+vs > n || ks == 0 {
			continue
		}
		k, v := p[ko:ko+ks], p[ko+ks:ko+ks+vs]
		if flags&BucketLeafFlag != 0 {
			if len(v) > BucketHeaderSize && LE.Uint64(v) == 0 { // inline bucket: header, then a page
				ParseLeaf(v[BucketHeaderSize:], depth+1, fn)
			}
			continue
		}
		fn(k, v)
	}
}
