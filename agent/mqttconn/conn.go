package mqttconn

import (
	"bufio"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Sizes and limits of a Conn.
const (
	// ReadBuffer is the size of the read buffer.
	ReadBuffer = 64 << 10
	// MaxQueued is how many written bytes may wait for the flusher before
	// Write blocks (a single larger write is still accepted whole).
	MaxQueued = 256 << 10
	// FlushTimeout bounds how long Close waits for queued bytes to go out.
	FlushTimeout = 2 * time.Second
)

// Options tune a Conn.
type Options struct {
	// Linger is how long the flusher waits, after a write wakes it, for
	// more writes to join before it writes them all. Zero writes at once;
	// a millisecond turns a burst of acknowledgements into one write.
	Linger time.Duration
}

// ErrClosed is returned by Write after Close.
var ErrClosed = errors.New("mqttconn: connection closed")

// Conn is a net.Conn with buffered reads and coalesced writes (see the
// package documentation). Read is for one goroutine at a time, as with
// bufio; Write and Close may be called from any goroutine.
type Conn struct {
	net.Conn
	r *bufio.Reader

	mu      sync.Mutex
	space   *sync.Cond // signalled when the queue shrinks or err is set
	queue   []byte     // written, not yet handed to the flusher
	spare   []byte     // the flusher's previous buffer, reused
	err     error      // sticky: first write error, or ErrClosed
	closing bool
	wrote   atomic.Bool // Write accepted bytes at least once

	flushTimeout time.Duration // FlushTimeout; shorter in tests
	linger       time.Duration

	wake chan struct{} // capacity 1: the queue has bytes
	stop chan struct{} // closed by Close: no more lingering
	done chan struct{} // closed when the flusher has returned
}

// Wrap returns c with buffered reads and coalesced writes, and starts its
// flusher goroutine (which Close stops).
func Wrap(c net.Conn) *Conn { return WrapWith(c, Options{}) }

// WrapWith is Wrap with options.
func WrapWith(c net.Conn, o Options) *Conn {
	w := &Conn{Conn: c, r: bufio.NewReaderSize(c, ReadBuffer), linger: o.Linger,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		flushTimeout: FlushTimeout}
	w.space = sync.NewCond(&w.mu)
	go w.flushLoop()
	return w
}

// Read reads through the buffer.
func (c *Conn) Read(p []byte) (int, error) { return c.r.Read(p) }

// Wrote reports whether a Write was accepted on c. Bytes written after
// that follow it on the wire: paho's first write on a connection is its
// CONNECT, and MQTT lets a client send further packets right after it.
func (c *Conn) Wrote() bool { return c.wrote.Load() }

// Write queues p for the flusher and returns; the error is that of an
// earlier write (or ErrClosed), since the bytes go out asynchronously.
func (c *Conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	for c.err == nil && len(c.queue) > 0 && len(c.queue)+len(p) > MaxQueued {
		c.space.Wait()
	}
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return 0, err
	}
	c.queue = append(c.queue, p...)
	c.wrote.Store(true)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return len(p), nil
}

// flushLoop writes the queue whenever it has bytes, all of it in one call,
// until Close and an empty queue, or a write error.
func (c *Conn) flushLoop() {
	defer close(c.done)
	var timer *time.Timer
	if c.linger > 0 {
		timer = time.NewTimer(c.linger)
		defer timer.Stop()
	}
	for range c.wake {
		if timer != nil {
			c.lingerOn(timer)
		}
		for {
			out, stop := c.take()
			if len(out) == 0 {
				if stop {
					return
				}
				break
			}
			_, err := c.Conn.Write(out)
			if !c.flushed(out, err) {
				return
			}
		}
	}
}

// lingerOn waits for the linger time, or for Close.
func (c *Conn) lingerOn(timer *time.Timer) {
	timer.Reset(c.linger)
	select {
	case <-timer.C:
	case <-c.stop:
	}
}

// take swaps the queue for the spare buffer; stop reports Close.
func (c *Conn) take() (out []byte, stop bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out, c.queue, c.spare = c.queue, c.spare[:0], nil
	return out, c.closing
}

// flushed records the outcome of a write and reports whether to go on.
func (c *Conn) flushed(out []byte, err error) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.spare == nil {
		c.spare = out[:0]
	}
	if err != nil && c.err == nil {
		c.err = err
		_ = c.Conn.Close() // paho's reader sees the failure and reconnects
	}
	c.space.Broadcast()
	return err == nil
}

// Close sends the queued bytes (waiting at most FlushTimeout), stops the
// flusher and closes the connection. Later Writes return ErrClosed.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return ErrClosed
	}
	c.closing = true
	close(c.stop)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	timer := time.NewTimer(c.flushTimeout)
	defer timer.Stop()
	select {
	case <-c.done:
	case <-timer.C: // a stuck peer: closing the connection unblocks the write
	}
	c.mu.Lock()
	if c.err == nil {
		c.err = ErrClosed
	}
	c.space.Broadcast()
	c.mu.Unlock()
	err := c.Conn.Close()
	<-c.done
	return err
}
