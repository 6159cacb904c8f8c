package mqttconn

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// countingConn counts the calls that reach the raw connection; with gate
// set, every Write first waits for a value on it.
type countingConn struct {
	net.Conn
	reads, writes atomic.Int64
	gate          chan struct{}
	failWrite     error
	closed        atomic.Bool
}

func (c *countingConn) Read(p []byte) (int, error) {
	c.reads.Add(1)
	return c.Conn.Read(p)
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	if c.gate != nil {
		<-c.gate
	}
	if c.failWrite != nil {
		return 0, c.failWrite
	}
	return c.Conn.Write(p)
}

func (c *countingConn) Close() error {
	c.closed.Store(true)
	return c.Conn.Close()
}

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func puback(id uint16) []byte {
	p := packets.NewControlPacket(packets.Puback).(*packets.PubackPacket)
	p.MessageID = id
	var b bytes.Buffer
	_ = p.Write(&b)
	return b.Bytes()
}

// readAll reads from c in the background until it is closed.
func readAll(c net.Conn) <-chan []byte {
	out := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(c)
		out <- b
	}()
	return out
}

func TestWritesQueuedBehindABusyWriteGoOutTogetherInOrder(t *testing.T) {
	client, server := tcpPair(t)
	raw := &countingConn{Conn: client, gate: make(chan struct{})}
	c := Wrap(raw)
	got := readAll(server)

	want := writeAcks(t, c, 500, func() {})
	close(raw.gate) // the first write was held; the other 499 queued behind it
	closeAndCheck(t, c, got, want)
	if n := raw.writes.Load(); n > 3 {
		t.Fatalf("%d raw writes for 500 packets queued behind one write, want at most 3", n)
	}
}

func TestALoneWriteGoesOutWithoutWaitingForMore(t *testing.T) {
	client, server := tcpPair(t)
	c := Wrap(client)
	defer c.Close()
	if c.Wrote() {
		t.Fatal("Wrote before any Write")
	}
	p := puback(7)
	if _, err := c.Write(p); err != nil {
		t.Fatal(err)
	}
	if !c.Wrote() {
		t.Fatal("not Wrote after a Write")
	}
	_ = server.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, len(p))
	if _, err := io.ReadFull(server, buf); err != nil {
		t.Fatalf("a single queued packet did not reach the peer: %v", err)
	}
	if !bytes.Equal(buf, p) {
		t.Fatalf("peer got %x, want %x", buf, p)
	}
}

func TestReadsFetchManyPacketsPerCall(t *testing.T) {
	client, server := tcpPair(t)
	raw := &countingConn{Conn: client}
	c := Wrap(raw)
	defer c.Close()
	const n = 1000
	var all bytes.Buffer
	for i := range n {
		all.Write(puback(uint16(i + 1)))
	}
	if _, err := server.Write(all.Bytes()); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		cp, err := packets.ReadPacket(c)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if id := cp.(*packets.PubackPacket).MessageID; id != uint16(i+1) {
			t.Fatalf("packet %d has id %d", i, id)
		}
	}
	// Unbuffered, paho's reader makes 3 reads per PUBACK (3,000 here).
	if r := raw.reads.Load(); r > 50 {
		t.Fatalf("%d raw reads for %d packets, want a few", r, n)
	}
}

func TestAWriteErrorIsStickyAndClosesTheConnection(t *testing.T) {
	client, _ := tcpPair(t)
	boom := errors.New("link gone")
	raw := &countingConn{Conn: client, failWrite: boom}
	c := Wrap(raw)
	if _, err := c.Write(puback(1)); err != nil {
		t.Fatalf("first write: %v (errors surface on a later write)", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	var err error
	for err == nil && time.Now().Before(deadline) {
		_, err = c.Write(puback(2))
		time.Sleep(time.Millisecond)
	}
	if !errors.Is(err, boom) {
		t.Fatalf("later write returned %v, want the flusher's error %v", err, boom)
	}
	if !raw.closed.Load() {
		t.Fatal("raw connection left open after a write error")
	}
	if _, err := c.Write(puback(3)); !errors.Is(err, boom) {
		t.Fatalf("write after the error: %v, want %v again", err, boom)
	}
	_ = c.Close()
}

func TestWriteBlocksWhenTheQueueIsFull(t *testing.T) {
	client, server := tcpPair(t)
	raw := &countingConn{Conn: client, gate: make(chan struct{})}
	c := Wrap(raw)
	got := readAll(server)
	chunk := bytes.Repeat([]byte{0x40}, 64<<10)
	if _, err := c.Write(chunk); err != nil { // taken by the flusher, held at the gate
		t.Fatal(err)
	}
	waitFor(t, func() bool { return raw.writes.Load() == 1 })
	var queued atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range MaxQueued/len(chunk) + 1 {
			if _, err := c.Write(chunk); err != nil {
				return
			}
			queued.Add(1)
		}
	}()
	time.Sleep(100 * time.Millisecond)
	if q := queued.Load(); q != MaxQueued/int64(len(chunk)) {
		t.Fatalf("%d chunks of %d bytes queued while the flusher was stuck, want %d (the limit)", q, len(chunk), MaxQueued/len(chunk))
	}
	close(raw.gate)
	<-done
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if b := <-got; len(b) != (MaxQueued/len(chunk)+2)*len(chunk) {
		t.Fatalf("peer got %d bytes, want %d", len(b), (MaxQueued/len(chunk)+2)*len(chunk))
	}
}

func TestCloseGivesUpOnAStuckPeer(t *testing.T) {
	client, _ := tcpPair(t)
	raw := &countingConn{Conn: client, gate: make(chan struct{})}
	c := Wrap(raw)
	c.flushTimeout = 50 * time.Millisecond
	var once sync.Once
	release := func() { once.Do(func() { close(raw.gate) }) }
	defer release()
	if _, err := c.Write(puback(1)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return raw.writes.Load() == 1 })
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	// The held write returns only once the raw connection is closed.
	waitFor(t, raw.closed.Load)
	release()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hung on a write that could not complete")
	}
	if _, err := c.Write(puback(2)); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after Close: %v, want ErrClosed", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestLingerGathersWritesSpreadOverTime(t *testing.T) {
	client, server := tcpPair(t)
	raw := &countingConn{Conn: client}
	c := WrapWith(raw, Options{Linger: 50 * time.Millisecond})
	got := readAll(server)
	want := writeAcks(t, c, 20, func() {
		time.Sleep(time.Millisecond) // without linger, each would go alone
	})
	waitFor(t, func() bool { return raw.writes.Load() > 0 })
	closeAndCheck(t, c, got, want)
	if n := raw.writes.Load(); n > 2 {
		t.Fatalf("%d raw writes for 20 packets written within the linger time, want 1 or 2", n)
	}
}

func TestCloseDoesNotWaitOutTheLinger(t *testing.T) {
	client, server := tcpPair(t)
	c := WrapWith(client, Options{Linger: time.Hour})
	got := readAll(server)
	p := puback(9)
	if _, err := c.Write(p); err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for the linger time")
	}
	if b := <-got; !bytes.Equal(b, p) {
		t.Fatalf("peer got %x, want the queued %x before the close", b, p)
	}
}

// writeAcks writes PUBACKs 1..n to c, calling between after each, and
// returns the bytes written.
func writeAcks(t *testing.T, c *Conn, n int, between func()) []byte {
	t.Helper()
	var want bytes.Buffer
	for i := range n {
		p := puback(uint16(i + 1))
		want.Write(p)
		if _, err := c.Write(p); err != nil {
			t.Fatal(err)
		}
		between()
	}
	return want.Bytes()
}

// closeAndCheck closes c and checks that the peer got want, in order.
func closeAndCheck(t *testing.T, c *Conn, got <-chan []byte, want []byte) {
	t.Helper()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("peer got %d bytes, want the %d written, in order", len(b), len(want))
	}
}
