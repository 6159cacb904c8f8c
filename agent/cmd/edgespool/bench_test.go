package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgespool/edgespool/sim/testenv"
)

// procCPU returns user+system CPU time of pid from /proc (clock ticks of
// 10ms on Linux).
func procCPU(tb testing.TB, pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// procHWM returns the peak resident set of pid in MiB.
func procHWM(tb testing.TB, pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			kb, _ := strconv.ParseFloat(strings.Fields(l)[1], 64)
			return kb / 1024
		}
	}
	return 0
}

const benchGens = 100

// publishAll publishes n readings (spread over benchGens generators) from
// two pipelined QoS 1 publishers.
func publishAll(b *testing.B, url string, n int) {
	var wg sync.WaitGroup
	per := n / benchGens
	for p := 0; p < 2; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			publishRange(b, url, p*benchGens/2+1, (p+1)*benchGens/2, per)
		}()
	}
	wg.Wait()
}

func publishRange(b *testing.B, url string, g0, g1, per int) {
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("benchpub-%d", g0)))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Error(tok.Error())
		return
	}
	defer c.Disconnect(100)
	window := make([]mqtt.Token, 0, 1000)
	ts := time.Now().UnixMilli()
	for seq := 1; seq <= per; seq++ {
		for g := g0; g <= g1; g++ {
			p := fmt.Sprintf(`{"generatorID":"generator%d","seq":%d,"ts":%d,"lat":40.71427,"lon":-74.00597,"temperature":205,"power":1534,"load":62,"fuel":%d}`,
				g, seq, ts+int64(seq), 1000-seq%600)
			window = append(window, c.Publish("emergency_generator/generator"+strconv.Itoa(g), 1, false, p))
			if len(window) == cap(window) {
				window[0].Wait()
				window = append(window[:0], window[1:]...)
			}
		}
	}
	for _, tok := range window {
		tok.Wait()
	}
}

// BenchmarkAgentQoS1 measures the agent (separate process, fsync on) taking
// b.N readings from Mosquitto: end-to-end rate, agent CPU per reading and
// peak RSS. Run with -benchtime=200000x.
func BenchmarkAgentQoS1(b *testing.B) {
	broker := testenv.Mosquitto(b)
	a := newAgentProc(b, broker.URL, os.Getenv("EDGESPOOL_BENCH_SPOOL"))
	a.start()
	a.waitReady()
	n := max(b.N/benchGens, 1) * benchGens
	pid := a.cmd.Process.Pid
	cpu0, t0 := procCPU(b, pid), time.Now()
	b.ResetTimer()
	publishAll(b, broker.URL, n)
	a.waitRecords(n, 5*time.Minute)
	elapsed, cpu := time.Since(t0), procCPU(b, pid)-cpu0
	b.StopTimer()
	b.ReportMetric(float64(n)/elapsed.Seconds(), "readings/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-µs/reading")
	b.ReportMetric(procHWM(b, pid), "peak-RSS-MiB")
	a.term()
}

// BenchmarkBareSubscriberQoS1 is the baseline: a paho QoS 1 subscriber
// (separate process) that only counts, fed the same way.
func BenchmarkBareSubscriberQoS1(b *testing.B) {
	broker := testenv.Mosquitto(b)
	n := max(b.N/benchGens, 1) * benchGens
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), fmt.Sprintf("EDGESPOOL_TEST_BARESUB=%s,%d", broker.URL, n))
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer cmd.Process.Kill()
	buf := make([]byte, 6)
	if _, err := out.Read(buf); err != nil { // "ready\n"
		b.Fatal(err)
	}
	pid := cmd.Process.Pid
	cpu0, t0 := procCPU(b, pid), time.Now()
	b.ResetTimer()
	publishAll(b, broker.URL, n)
	if _, err := out.Read(buf); err != nil { // "done\n"
		b.Fatal(err)
	}
	elapsed, cpu := time.Since(t0), procCPU(b, pid)-cpu0
	b.StopTimer()
	b.ReportMetric(float64(n)/elapsed.Seconds(), "readings/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-µs/reading")
	b.ReportMetric(procHWM(b, pid), "peak-RSS-MiB")
}

// bareSubscriber is the child process of BenchmarkBareSubscriberQoS1.
func bareSubscriber(spec string) int {
	url, count, _ := strings.Cut(spec, ",")
	n, _ := strconv.ParseInt(count, 10, 64)
	var got atomic.Int64
	done := make(chan struct{})
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID("bare-sub").SetCleanSession(false))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return 1
	}
	tok := c.Subscribe("emergency_generator/+", 1, func(mqtt.Client, mqtt.Message) {
		if got.Add(1) == n {
			close(done)
		}
	})
	tok.Wait()
	fmt.Println("ready")
	<-done
	fmt.Println("done ")
	time.Sleep(100 * time.Millisecond)
	return 0
}
