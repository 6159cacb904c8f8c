package testenv

import (
	"io"
	"net"
	"testing"
)

// EchoServer starts a TCP server on a free loopback port that echoes every
// byte back on each connection, and returns its host:port. It stops when
// the test ends.
func EchoServer(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}
