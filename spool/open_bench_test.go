package spool

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// BenchmarkOpen times Open and Close of a spool file of 1,000,000 records
// (about 230 MB) in the page cache: after a clean close (bbolt reads the
// freelist the spool saved) and as a crash leaves it (no saved freelist:
// bbolt rebuilds it by walking the whole file). Both run the spool's
// structure check and checksum scan. Reports seconds per open and per GiB
// of file. With EDGESPOOL_BENCH_COLD=1 (root only) the page cache is
// dropped before each open, as after a reboot.
func BenchmarkOpen(b *testing.B) {
	path := filepath.Join(b.TempDir(), "spool.db")
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	fillBench(b, s, 1_000_000)
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	fi, _ := os.Stat(path)
	gib := float64(fi.Size()) / (1 << 30)
	for _, tc := range []struct {
		name  string
		crash bool
	}{{"clean", false}, {"crash", true}} {
		b.Run(tc.name, func(b *testing.B) {
			var total time.Duration
			for i := 0; i < b.N; i++ {
				if tc.crash {
					dropSavedFreelist(b, path)
				}
				if os.Getenv("EDGESPOOL_BENCH_COLD") == "1" {
					dropPageCache(b)
				}
				start := time.Now()
				s, err := Open(path, Options{NoSync: true})
				if err != nil {
					b.Fatal(err)
				}
				total += time.Since(start)
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
			}
			per := total.Seconds() / float64(b.N)
			b.ReportMetric(per, "s/open")
			b.ReportMetric(per/gib, "s/GiB")
		})
	}
}

// dropSavedFreelist commits an empty transaction without the freelist, as
// every commit of a running spool does: the file is as a crash leaves it.
func dropSavedFreelist(b *testing.B, path string) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		b.Fatal(err)
	}
	if err := db.Update(func(*bolt.Tx) error { return nil }); err != nil {
		b.Fatal(err)
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
}

// dropPageCache writes the dirty pages out and drops the page cache.
func dropPageCache(b *testing.B) {
	syscall.Sync()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("1"), 0); err != nil {
		b.Skipf("cannot drop the page cache: %v", err)
	}
}
