package spool

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// mappedRSS returns the resident bytes of this process's mappings of path.
func mappedRSS(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skip("no /proc/self/smaps")
	}
	defer f.Close()
	var total int64
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		switch {
		case len(fields) >= 5 && strings.Contains(fields[0], "-"):
			in = fields[len(fields)-1] == path
		case in && fields[0] == "Rss:":
			kb, _ := strconv.ParseInt(fields[1], 10, 64)
			total += kb << 10
		}
	}
	return total
}

func TestReopenAndReadBacklogKeepsFewFilePagesMapped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	s := openTest(t, path, Options{})
	for i := 0; i < 40; i++ {
		mustAppend(t, s, recs("raw", 4000, 300))
	}
	_ = s.Close()
	const bound = 12 << 20
	s = openTest(t, path, Options{})
	if rss := mappedRSS(t, path); rss > bound {
		t.Fatalf("after open (scan of %d records) %d bytes of the file mapped, want at most %d", 160000, rss, bound)
	}
	var after uint64
	peak := int64(0)
	for {
		b, err := s.ReadAfter("raw", after, 1024)
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Records) == 0 {
			break
		}
		after = b.Records[len(b.Records)-1].Seq
		peak = max(peak, mappedRSS(t, path))
	}
	if after != 160000 {
		t.Fatalf("read up to %d, want 160000", after)
	}
	if fi, _ := os.Stat(path); peak > bound || fi.Size() < 4*bound {
		t.Fatalf("reading a %d-byte file kept up to %d bytes mapped, want at most %d", fi.Size(), peak, bound)
	}
}

func TestCompactionKeepsFewFilePagesMapped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	s := openTest(t, path, Options{})
	for i := 0; i < 40; i++ {
		mustAppend(t, s, recs("raw", 4000, 300))
	}
	const bound = 12 << 20
	stop := make(chan struct{})
	peak := make(chan int64)
	go func() {
		var p int64
		for {
			select {
			case <-stop:
				peak <- p
				return
			default:
				p = max(p, mappedRSS(t, path))
			}
		}
	}()
	err := s.Compact()
	close(stop)
	if p := <-peak; p > bound {
		t.Fatalf("compaction of %d records kept up to %d bytes mapped, want at most %d", 160000, p, bound)
	}
	if err != nil {
		t.Fatal(err)
	}
	if b, err := s.ReadAfter("raw", 159990, 100); err != nil || len(b.Records) != 10 {
		t.Fatalf("after compaction: %d records, %v", len(b.Records), err)
	}
}
