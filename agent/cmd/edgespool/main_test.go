package main

import (
	"bytes"
	"os"
	"runtime/pprof"
	"strings"
	"testing"
)

// TestMain lets the test binary stand in for the edgespool binary: the
// crash tests re-execute it with EDGESPOOL_TEST_AGENT=1 and kill it.
func TestMain(m *testing.M) {
	if os.Getenv("EDGESPOOL_TEST_AGENT") == "1" {
		if p := os.Getenv("EDGESPOOL_TEST_CPUPROFILE"); p != "" {
			f, _ := os.Create(p)
			pprof.StartCPUProfile(f)
			code := run(os.Args[1:], os.Stdout, os.Stderr)
			pprof.StopCPUProfile()
			os.Exit(code)
		}
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	if spec := os.Getenv("EDGESPOOL_TEST_BARESUB"); spec != "" {
		os.Exit(bareSubscriber(spec))
	}
	os.Exit(m.Run())
}

func runCmd(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestExitCodes(t *testing.T) {
	cases := []struct {
		args []string
		code int
		out  string // in stdout or stderr
	}{
		{nil, 2, "usage: edgespool"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"-h"}, 0, "commands:"},
		{[]string{"version"}, 0, "edgespool "},
		{[]string{"version", "-json"}, 0, `"goarch"`},
		{[]string{"version", "extra"}, 2, "unexpected argument"},
		{[]string{"run", "-h"}, 0, "-config"},
		{[]string{"run", "-bogus"}, 2, "flag provided but not defined"},
		{[]string{"check-config", "-config", "../../../packaging/edgespool.yaml"}, 0, ": ok"},
		{[]string{"check-config", "-config", "/nonexistent.yaml"}, 1, "no such file"},
		{[]string{"spool"}, 2, "stat|dump|compact"},
		{[]string{"spool", "shrink"}, 2, "unknown subcommand"},
		{[]string{"spool", "stat", "-spool", "/nonexistent.db"}, 1, "no such file"},
		{[]string{"status", "-addr", "127.0.0.1:1"}, 1, "is the agent running"},
	}
	for _, c := range cases {
		code, out, errOut := runCmd(c.args...)
		if code != c.code || !strings.Contains(out+errOut, c.out) {
			t.Errorf("%v: exit %d, want %d; output %q %q", c.args, code, c.code, out, errOut)
		}
	}
}

func TestCheckConfigNamesFieldAndLine(t *testing.T) {
	dir := t.TempDir()
	bad := dir + "/bad.yaml"
	os.WriteFile(bad, []byte("mqtt:\n  qos: 0\n  brokr: x\n"), 0o644)
	code, _, errOut := runCmd("check-config", "-config", bad)
	if code != 1 || !strings.Contains(errOut, "line 3") || !strings.Contains(errOut, "brokr") {
		t.Fatalf("%d %q", code, errOut)
	}
	os.WriteFile(bad, []byte("mqtt:\n  qos: 0\n"), 0o644)
	code, _, errOut = runCmd("check-config", "-config", bad)
	if code != 1 || !strings.Contains(errOut, "mqtt.qos") {
		t.Fatalf("%d %q", code, errOut)
	}
}
