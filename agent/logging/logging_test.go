package logging

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReopenAndLevel(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	l, err := New("json", "warn", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Info("hidden")
	l.Warn("first")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := l.Reload("debug"); err != nil {
		t.Fatal(err)
	}
	l.Debug("second")
	old, _ := os.ReadFile(path + ".1")
	cur, _ := os.ReadFile(path)
	if strings.Contains(string(old), "hidden") || !strings.Contains(string(old), `"msg":"first"`) ||
		!strings.Contains(string(cur), `"msg":"second"`) {
		t.Fatalf("old %q\ncur %q", old, cur)
	}
	if err := l.Reload("loud"); err == nil {
		t.Fatal("bad level accepted")
	}
	if _, err := New("text", "info", filepath.Join(dir, "no", "such", "dir")); err == nil {
		t.Fatal("unwritable file accepted")
	}
}
