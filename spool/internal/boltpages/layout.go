// Package boltpages reads bbolt's on-disk layout directly, without bbolt:
// a structural check of the page tree (Check), a scan of every leaf page
// (Scan, ParseLeaf) and a probe of the meta pages (ReadMeta). The spool
// uses it to check a file before bbolt maps it and to salvage a damaged
// file.
//
// This is bbolt's private format (go.etcd.io/bbolt v1.4, data format
// version 2), which bbolt does not promise to keep. TestBoltLayoutPinned
// creates a database with the bbolt of go.mod and checks every offset this
// package relies on, so that an upgrade that changes the layout fails that
// test instead of silently breaking salvage.
package boltpages

import (
	"encoding/binary"
	"hash/fnv"
	"os"
)

// The layout of bbolt data format version 2.
const (
	// PageHeaderSize is the size of a page header: id (8 bytes), flags (2),
	// element count (2), overflow page count (4).
	PageHeaderSize = 16
	// ElemSize is the size of a leaf element (flags, pos, ksize, vsize:
	// 4 bytes each) and of a branch element (pos, ksize: 4 bytes each,
	// child page id: 8). pos counts from the element's own offset.
	ElemSize = 16
	// Page flags.
	BranchPageFlag   = 0x01
	LeafPageFlag     = 0x02
	MetaPageFlag     = 0x04
	FreelistPageFlag = 0x10
	// BucketLeafFlag marks a leaf element whose value is a bucket.
	BucketLeafFlag = 0x01
	// BucketHeaderSize is the size of a bucket value's header: root page
	// id (8 bytes, 0 for an inline bucket), sequence (8). An inline
	// bucket's leaf page follows the header.
	BucketHeaderSize = 16
	// Magic and Version open a meta page's body.
	Magic   = 0xED0CDAED
	Version = 2
	// MetaSize is the size of a meta body: magic (4), version (4), page
	// size (4), flags (4), root bucket (root page id 8, sequence 8),
	// freelist page id (8), high water mark page id (8), txid (8),
	// FNV-1a 64 checksum of the preceding 56 bytes (8).
	MetaSize = 64

	// NoFreelist is the freelist page id of a file written without a
	// synced freelist.
	NoFreelist = ^uint64(0)

	maxScanSpan = 64 << 20 // largest leaf (with overflow pages) parsed
)

// Offsets of the meta body fields.
const (
	metaMagic    = 0
	metaVersion  = 4
	metaPageSize = 8
	metaRoot     = 16
	metaFreelist = 32
	metaHWM      = 40
	metaTxid     = 48
	metaChecksum = 56
)

// LE is the byte order of bbolt pages: the machine's, little-endian on
// every platform the spool is built for.
var LE = binary.LittleEndian

// Meta is a decoded meta page.
type Meta struct {
	PageSize uint32
	Root     uint64 // page id of the root bucket
	Freelist uint64 // page id of the freelist, NoFreelist when not synced
	HWM      uint64 // high water mark: first page id not in use
	Txid     uint64
}

// ParseMeta decodes the meta body b (the bytes after the page header); ok
// is false unless magic, version and checksum hold.
func ParseMeta(b []byte) (m Meta, ok bool) {
	if len(b) < MetaSize || LE.Uint32(b[metaMagic:]) != Magic || LE.Uint32(b[metaVersion:]) != Version {
		return m, false
	}
	h := fnv.New64a()
	h.Write(b[:metaChecksum])
	if LE.Uint64(b[metaChecksum:]) != h.Sum64() {
		return m, false
	}
	return Meta{PageSize: LE.Uint32(b[metaPageSize:]), Root: LE.Uint64(b[metaRoot:]),
		Freelist: LE.Uint64(b[metaFreelist:]), HWM: LE.Uint64(b[metaHWM:]), Txid: LE.Uint64(b[metaTxid:])}, true
}

// ReadMeta returns the meta page bbolt would use (the valid one with the
// highest txid); ok is false when neither meta page is valid.
func ReadMeta(f *os.File) (best Meta, ok bool) {
	ps := int64(PageSize(f))
	for i := int64(0); i < 2; i++ {
		b := make([]byte, MetaSize)
		if _, err := f.ReadAt(b, i*ps+PageHeaderSize); err != nil {
			continue
		}
		if m, valid := ParseMeta(b); valid && (!ok || m.Txid > best.Txid) {
			best, ok = m, true
		}
	}
	return best, ok
}

// HasMagic reports whether either meta page of the file at path carries
// bbolt's magic number, whatever the state of the rest.
func HasMagic(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	def := int64(os.Getpagesize())
	for _, off := range []int64{0, def, 4096} {
		var m [PageHeaderSize + 4]byte
		if _, err := f.ReadAt(m[:], off); err == nil && LE.Uint32(m[PageHeaderSize:]) == Magic {
			return true
		}
	}
	return false
}

// PageSize reads the page size from a meta page with the magic, else
// returns the OS's.
func PageSize(f *os.File) int {
	def := os.Getpagesize()
	for _, off := range []int64{0, int64(def)} {
		var m [PageHeaderSize + metaPageSize + 4]byte
		if _, err := f.ReadAt(m[:], off); err != nil {
			continue
		}
		if LE.Uint32(m[PageHeaderSize+metaMagic:]) == Magic {
			if ps := int(LE.Uint32(m[PageHeaderSize+metaPageSize:])); ps >= 512 && ps <= 1<<20 && ps&(ps-1) == 0 {
				return ps
			}
		}
	}
	return def
}

// Page header accessors.
func pageID(p []byte) uint64      { return LE.Uint64(p) }
func pageFlags(p []byte) uint16   { return LE.Uint16(p[8:]) }
func pageCount(p []byte) int64    { return int64(LE.Uint16(p[10:])) }
func pageOverflow(p []byte) int64 { return int64(LE.Uint32(p[12:])) }

// PageHeader decodes a page header.
func PageHeader(p []byte) (id uint64, flags uint16, count int, overflow uint32) {
	return pageID(p), pageFlags(p), int(pageCount(p)), uint32(pageOverflow(p))
}
