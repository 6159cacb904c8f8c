package config

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

func oneOf(s string, options ...string) bool {
	for _, o := range options {
		if s == o {
			return true
		}
	}
	return false
}

func checkRange(p *problems, field string, v, lo, hi int64) {
	if v < lo || v > hi {
		p.add(field, "must be between %d and %d, got %d", lo, hi, v)
	}
}

// checkDuration checks lo <= d and, when hi > 0, d <= hi.
func checkDuration(p *problems, field string, d, lo, hi time.Duration) {
	switch {
	case d < lo:
		p.add(field, "must be at least %v, got %v", lo, d)
	case hi > 0 && d > hi:
		p.add(field, "must be at most %v, got %v", hi, d)
	}
}

// checkTopicFilter applies the MQTT 3.1.1 rules for subscription filters.
func checkTopicFilter(f string) error {
	if f == "" {
		return errors.New("empty topic filter")
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		switch {
		case strings.Contains(l, "#") && (l != "#" || i != len(levels)-1):
			return errors.New("'#' must be a whole level and the last one")
		case strings.Contains(l, "+") && l != "+":
			return errors.New("'+' must be a whole level")
		}
	}
	return nil
}

// checkKafkaTopic applies Kafka's topic name rules.
func checkKafkaTopic(p *problems, field, t string) {
	if t == "" || len(t) > 249 || t == "." || t == ".." {
		p.add(field, "must be 1-249 characters and not . or .., got %q", t)
		return
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			p.add(field, "may only contain letters, digits, '.', '_' and '-', got %q", t)
			return
		}
	}
}

// checkListen accepts what net.Listen("tcp", addr) would: host:port with
// a port number 0-65535 or a service name.
func checkListen(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want host:port (e.g. 127.0.0.1:9273), got %q", addr)
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("port %s: want 0-65535 or a service name", port)
	}
	return nil
}
