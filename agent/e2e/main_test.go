package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// agentBin is the edgespool binary built for this test run.
var agentBin string

// TestMain builds the edgespool command once into a temporary directory.
// EDGESPOOL_E2E_RACE=1 builds it with the race detector;
// EDGESPOOL_E2E_AGENT=PATH runs that binary instead (e.g. to compare two
// builds in the benchmarks).
func TestMain(m *testing.M) {
	if p := os.Getenv("EDGESPOOL_E2E_AGENT"); p != "" {
		agentBin = p
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "edgespool-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(2)
	}
	agentBin = filepath.Join(dir, "edgespool")
	if err := build(agentBin); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: build edgespool:", err)
		os.RemoveAll(dir)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func build(out string) error {
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = "go"
	}
	args := []string{"build", "-o", out}
	if os.Getenv("EDGESPOOL_E2E_RACE") != "" {
		args = append(args, "-race")
	}
	cmd := exec.Command(goBin, append(args, "github.com/edgespool/edgespool/agent/cmd/edgespool")...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}
