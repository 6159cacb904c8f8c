package spool

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// treeCopy copies every bucket of a read transaction into another
// database, as bbolt.Compact does, committing the destination every
// compactTxBytes and releasing the source's mapped pages as it reads them
// (mapped.go): compaction reads all the live data of the file.
type treeCopy struct {
	dst    *bolt.DB
	src    *bolt.Tx
	tx     *bolt.Tx // destination transaction
	size   int64    // bytes put in tx
	mapped mapBudget

	curPath [][]byte // bucket path of cur
	cur     *bolt.Bucket
}

// copyTree copies src into the empty database dst.
func copyTree(dst *bolt.DB, src *bolt.Tx) (err error) {
	c := &treeCopy{dst: dst, src: src}
	if c.tx, err = dst.Begin(true); err != nil {
		return err
	}
	defer func() {
		if c.tx != nil {
			_ = c.tx.Rollback()
		}
	}()
	err = src.ForEach(func(name []byte, b *bolt.Bucket) error {
		return c.bucket(nil, name, b)
	})
	if err != nil {
		return err
	}
	tx := c.tx
	c.tx = nil
	return tx.Commit()
}

// bucket creates bucket name under path and copies b into it.
func (c *treeCopy) bucket(path [][]byte, name []byte, b *bolt.Bucket) error {
	if err := c.account(int64(len(name))); err != nil {
		return err
	}
	var nb *bolt.Bucket
	var err error
	if len(path) == 0 {
		nb, err = c.tx.CreateBucket(name)
	} else {
		nb, err = c.lookup(path).CreateBucket(name)
	}
	if err != nil {
		return fmt.Errorf("create bucket %q: %w", name, err)
	}
	if err := nb.SetSequence(b.Sequence()); err != nil {
		return err
	}
	path = append(path[:len(path):len(path)], name)
	return b.ForEach(func(k, v []byte) error {
		if v == nil {
			return c.bucket(path, k, b.Bucket(k))
		}
		if err := c.account(int64(len(k) + len(v))); err != nil {
			return err
		}
		return c.lookup(path).Put(k, v)
	})
}

// account counts n bytes about to be put, first committing the destination
// transaction if it would exceed compactTxBytes.
func (c *treeCopy) account(n int64) error {
	c.mapped.add(c.src, n)
	if c.size+n <= compactTxBytes || c.size == 0 {
		c.size += n
		return nil
	}
	if err := c.tx.Commit(); err != nil {
		c.tx = nil
		return err
	}
	c.cur, c.curPath = nil, nil
	var err error
	if c.tx, err = c.dst.Begin(true); err != nil {
		return err
	}
	c.size = n
	return nil
}

// lookup returns the destination bucket at path, filled completely.
func (c *treeCopy) lookup(path [][]byte) *bolt.Bucket {
	if c.cur != nil && samePath(c.curPath, path) {
		return c.cur
	}
	b := c.tx.Bucket(path[0])
	for _, name := range path[1:] {
		b = b.Bucket(name)
	}
	b.FillPercent = 1.0
	c.cur, c.curPath = b, path
	return b
}

func samePath(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}
