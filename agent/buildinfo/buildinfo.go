// Package buildinfo holds the version stamp of the edgespool binary.
//
// The release build sets the variables with the linker:
//
//	go build -ldflags "-X github.com/edgespool/edgespool/agent/buildinfo.Version=1.2.3 \
//	  -X github.com/edgespool/edgespool/agent/buildinfo.Commit=abc1234 \
//	  -X github.com/edgespool/edgespool/agent/buildinfo.Date=2025-01-02T03:04:05Z"
//
// Unstamped builds report "dev" and fall back to the VCS data that the Go
// toolchain embeds (runtime/debug.ReadBuildInfo).
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// Stamped at link time with -X; see the package doc.
var (
	Version = "dev"
	Commit  = ""
	Date    = ""
)

// Info is the build description printed by `edgespool version`.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Date      string `json:"date,omitempty"`
	GoVersion string `json:"go"`
	GOOS      string `json:"goos"`
	GOARCH    string `json:"goarch"`
}

// Get returns the build description, filling Commit and Date from the
// embedded VCS data when the linker did not stamp them.
func Get() Info {
	i := Info{Version: Version, Commit: Commit, Date: Date,
		GoVersion: runtime.Version(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && i.Commit == "":
				i.Commit = s.Value
			case s.Key == "vcs.time" && i.Date == "":
				i.Date = s.Value
			}
		}
	}
	if i.Commit == "" {
		i.Commit = "unknown"
	}
	return i
}

// String is the one-line form: "edgespool 1.2.3 (commit abc1234, go1.26, linux/arm)".
func (i Info) String() string {
	c := i.Commit
	if len(c) > 12 {
		c = c[:12]
	}
	return fmt.Sprintf("edgespool %s (commit %s, %s, %s/%s)", i.Version, c, i.GoVersion, i.GOOS, i.GOARCH)
}

// Collector is the edgespool_build_info gauge: 1, with the version, the
// VCS revision and the Go version as labels, for alerts and dashboards
// that join on the running build.
func Collector() prometheus.Collector {
	i := Get()
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "edgespool_build_info",
		Help: "Always 1; labels describe the running build."}, []string{"version", "revision", "goversion"})
	g.WithLabelValues(i.Version, i.Commit, i.GoVersion).Set(1)
	return g
}
