package spool

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The crash test re-executes the test binary as a child that appends under
// group commit from several goroutines, runs a derived-stream consumer with
// Commit and an acknowledging consumer, and prints what it was told is
// durable. The parent SIGKILLs it at random moments after it reported the
// spool open (a race-built child takes a while to start, so kill times
// counted from its start would often land before it did anything), reopens
// the spool and
// checks that every reported record is there, in order, with its content,
// that cursors are never ahead of the data, and that every Commit was
// atomic.

const childEnv = "EDGESPOOL_SPOOL_CHILD"

// readyLine is what the crash child prints once the spool is open, just
// before its appenders start.
const readyLine = "READY"

var crashConsumers = map[string][]string{"raw": {"sink", "ds"}}

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "crash":
		crashChild(os.Getenv("EDGESPOOL_SPOOL_PATH"))
	case "lock":
		lockChild(os.Getenv("EDGESPOOL_SPOOL_PATH"))
	default:
		os.Exit(m.Run())
	}
}

func crashValue(worker, call, i int) []byte {
	return []byte(fmt.Sprintf("w%d-c%d-i%d-%s", worker, call, i, strings.Repeat("p", 100)))
}

// crashChild runs until killed.
func crashChild(path string) {
	s, err := Open(path, Options{Consumers: crashConsumers})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	out := make(chan string, 1024)
	go func() {
		w := bufio.NewWriter(os.Stdout)
		for line := range out {
			w.WriteString(line)
			if len(out) == 0 {
				w.Flush()
			}
		}
	}()
	run := fmt.Sprint(time.Now().UnixNano())
	out <- readyLine + "\n" // the parent times its kill from here
	for w := 0; w < 8; w++ {
		go crashAppender(s, w, run, out)
	}
	go crashDerived(s)
	go crashAcker(s)
	select {}
}

// crashAppender appends calls of 1..50 records and reports each call.
func crashAppender(s *Spool, w int, run string, out chan<- string) {
	rng := rand.New(rand.NewSource(time.Now().UnixNano() + int64(w)))
	for call := 0; ; call++ {
		n := 1 + rng.Intn(50)
		rs := make([]Record, n)
		for i := range rs {
			rs[i] = Record{Stream: "raw", Key: run, Time: int64(call), Value: crashValue(w, call, i)}
		}
		if err := s.Append(context.Background(), rs); err != nil {
			continue
		}
		out <- fmt.Sprintf("A %s %d %d %d %d\n", run, w, call, rs[0].Seq, n)
	}
}

// crashDerived consumes raw with Commit: one derived record per batch, and
// the meta holds how many derived records it has written in total.
func crashDerived(s *Spool) {
	for {
		b, err := s.Read("ds", "raw", 100)
		if err != nil || len(b.Records) == 0 {
			time.Sleep(time.Millisecond)
			continue
		}
		_, meta, _ := s.Cursor("ds", "raw")
		total, _ := strconv.Atoi(string(meta))
		d := []Record{{Stream: "downsampled", Value: []byte(fmt.Sprint(b.Records[len(b.Records)-1].Seq))}}
		_ = s.Commit("ds", "raw", b.Records[len(b.Records)-1].Seq, []byte(fmt.Sprint(total+1)), d)
	}
}

func crashAcker(s *Spool) {
	for {
		b, err := s.Read("sink", "raw", 500)
		if err != nil || len(b.Records) == 0 {
			time.Sleep(time.Millisecond)
			continue
		}
		_ = s.Ack("sink", "raw", b.Last(0))
	}
}

// reported is one Append call the child reported durable.
type reported struct {
	run             string
	worker, call, n int
	first           uint64
}

func parseReport(line string) (reported, bool) {
	var r reported
	if _, err := fmt.Sscanf(line, "A %s %d %d %d %d", &r.run, &r.worker, &r.call, &r.first, &r.n); err != nil {
		return r, false
	}
	return r, true
}

func TestCrashKillAtRandomMoments(t *testing.T) {
	if testing.Short() {
		t.Skip("crash loop")
	}
	path := filepath.Join(t.TempDir(), "spool.db")
	budget, deadline := 15, time.Now().Add(4*time.Second)
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	var all []reported
	for i := 0; i < budget && (i < 3 || time.Now().Before(deadline)); i++ {
		got := runAndKill(t, path, time.Duration(rng.Intn(250))*time.Millisecond)
		all = append(all, got...)
		verifyAfterCrash(t, path, all)
	}
	if len(all) == 0 {
		t.Fatal("the child reported no durable append")
	}
	t.Logf("%d durable append calls verified", len(all))
}

// runAndKill starts the child, kills it d after it reported the spool
// open, and returns its reports.
func runAndKill(t *testing.T, path string, d time.Duration) []reported {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=crash", "EDGESPOOL_SPOOL_PATH="+path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var got []reported
	ready, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			switch line := sc.Text(); {
			case line == readyLine:
				close(ready)
			case strings.HasPrefix(line, "ERR"):
				t.Errorf("child: %s", line)
			default:
				if r, ok := parseReport(line); ok {
					got = append(got, r)
				}
			}
		}
	}()
	select {
	case <-ready:
		time.Sleep(d)
	case <-done: // the child exited early; its error is reported
	case <-time.After(time.Minute):
		t.Errorf("child not ready within a minute")
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
	_ = cmd.Wait()
	return got
}

func verifyAfterCrash(t *testing.T, path string, all []reported) {
	t.Helper()
	s, err := Open(path, Options{Consumers: crashConsumers, NoSync: true})
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer s.Close()
	st := s.Stats()
	raw := st.Streams["raw"]
	if raw.Corrupt != 0 || metricValue(s.m.corruptFiles) != 0 {
		t.Fatalf("kill -9 left corruption: %+v", raw)
	}
	low := raw.LastSeq
	for _, c := range st.Consumers {
		if ss := st.Streams[c.Stream]; c.Cursor > ss.LastSeq {
			t.Fatalf("cursor %s/%s at %d ahead of data %d", c.Consumer, c.Stream, c.Cursor, ss.LastSeq)
		}
		if c.Stream == "raw" {
			low = min(low, c.Cursor)
		}
	}
	have := map[uint64][]byte{}
	var prev uint64
	if err := s.Scan("raw", low, func(r Record) error {
		if r.Seq <= prev {
			return fmt.Errorf("seq %d after %d", r.Seq, prev)
		}
		prev, have[r.Seq] = r.Seq, r.Value
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, r := range all {
		for i := 0; i < r.n; i++ {
			seq := r.first + uint64(i)
			if seq > raw.LastSeq {
				t.Fatalf("reported seq %d beyond LastSeq %d", seq, raw.LastSeq)
			}
			if seq <= low {
				continue // acknowledged by all consumers and deleted
			}
			if v, ok := have[seq]; !ok || string(v) != string(crashValue(r.worker, r.call, i)) {
				t.Fatalf("durable record %d (worker %d call %d #%d) missing or wrong: %q", seq, r.worker, r.call, i, v)
			}
		}
	}
	_, meta, _ := s.Cursor("ds", "raw")
	n, _ := strconv.Atoi(string(meta))
	if ds := st.Streams["downsampled"]; ds.LastSeq != uint64(n) {
		t.Fatalf("Commit not atomic: cursor meta says %d derived records, stream has %d", n, ds.LastSeq)
	}
}

// lockChild tries to open a spool another process holds.
func lockChild(path string) {
	_, err := Open(path, Options{LockTimeout: 100 * time.Millisecond})
	if errors.Is(err, ErrLocked) {
		fmt.Println("LOCKED")
		os.Exit(0)
	}
	fmt.Println("OPENED", err)
	os.Exit(1)
}

func TestSecondProcessGetsErrLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	s := openTest(t, path, Options{})
	mustAppend(t, s, recs("raw", 3, 10))
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=lock", "EDGESPOOL_SPOOL_PATH="+path)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "LOCKED") {
		t.Fatalf("second process: %v %s", err, out)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("second process took %v to fail", took)
	}
	// The holder is unaffected, and the file was not moved aside.
	mustAppend(t, s, recs("raw", 1, 10))
	if asides, _ := filepath.Glob(path + ".corrupt-*"); len(asides) != 0 {
		t.Fatalf("locked file treated as corrupt: %v", asides)
	}
}
