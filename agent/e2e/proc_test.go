package e2e

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// procUsage is the CPU time and memory of a process from /proc.
type procUsage struct {
	CPU      time.Duration // user + system
	RSS, HWM int64         // bytes: resident now, peak resident
	// RssAnon and RssFile split RSS: anonymous memory (heap, stacks) and
	// file-backed pages (the binary, the spool's memory map).
	RssAnon, RssFile int64
	ClockTicks       int64
}

// readProc reads /proc/<pid>/stat and /proc/<pid>/status.
func readProc(pid int) (procUsage, error) {
	var u procUsage
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, err
	}
	// Fields after the parenthesised command name; utime and stime are
	// fields 14 and 15 of the whole line (11 and 12 after the name).
	rest := string(stat[strings.LastIndexByte(string(stat), ')')+2:])
	f := strings.Fields(rest)
	if len(f) < 13 {
		return u, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const hz = 100 // USER_HZ on Linux
	u.ClockTicks = utime + stime
	u.CPU = time.Duration(u.ClockTicks) * time.Second / hz
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			u.RSS = kb << 10
		case "VmHWM":
			u.HWM = kb << 10
		case "RssAnon":
			u.RssAnon = kb << 10
		case "RssFile":
			u.RssFile = kb << 10
		}
	}
	return u, nil
}

// rssSampler records the largest VmRSS of a process.
type rssSampler struct {
	stopc chan struct{}
	done  chan struct{}
	max   int64
}

func sampleRSS(pid int) *rssSampler {
	s := &rssSampler{stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			if u, err := readProc(pid); err == nil {
				s.max = max(s.max, u.RSS)
			}
			select {
			case <-s.stopc:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

func (s *rssSampler) stop() int64 {
	close(s.stopc)
	<-s.done
	return s.max
}

// cpuShare measures the cores used by a set of processes, and by the whole
// machine (/proc/stat), over an interval.
type cpuShare struct {
	pids      map[string]int
	start     map[string]time.Duration
	busy0     int64 // machine busy ticks
	t0        time.Time
	machineOK bool
}

func startCPUShare(pids map[string]int) *cpuShare {
	s := &cpuShare{pids: pids, start: map[string]time.Duration{}, t0: time.Now()}
	for name, pid := range pids {
		if u, err := readProc(pid); err == nil {
			s.start[name] = u.CPU
		}
	}
	s.busy0, s.machineOK = machineBusyTicks()
	return s
}

// stop returns "cores used while publishing: ..." for the interval.
func (s *cpuShare) stop() string {
	d := time.Since(s.t0).Seconds()
	names := make([]string, 0, len(s.pids))
	for name := range s.pids {
		names = append(names, name)
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteString("cores used while publishing:")
	for _, name := range names {
		if u, err := readProc(s.pids[name]); err == nil {
			fmt.Fprintf(&b, " %s %.2f,", name, (u.CPU-s.start[name]).Seconds()/d)
		}
	}
	if busy1, ok := machineBusyTicks(); ok && s.machineOK {
		fmt.Fprintf(&b, " whole machine %.2f of %d", float64(busy1-s.busy0)/100/d, runtime.NumCPU())
	}
	return b.String()
}

// machineBusyTicks sums the non-idle jiffies of /proc/stat's cpu line.
func machineBusyTicks() (int64, bool) {
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(stat), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, false
	}
	var busy int64
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, true
}
