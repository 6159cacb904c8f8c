package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgespool/edgespool/agent/model"
	"github.com/edgespool/edgespool/spool"
)

// fileState is a file's bytes and modification time (nil: no file).
type fileState struct {
	data  []byte
	mtime time.Time
}

func stateOf(t *testing.T, path string) *fileState {
	t.Helper()
	fi, err := os.Stat(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return &fileState{data, fi.ModTime()}
}

func TestSpoolCommandsLeaveOtherFilesAlone(t *testing.T) {
	config, err := os.ReadFile("../../../packaging/edgespool.yaml")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]struct {
		content []byte // nil: no file
		msg     string
	}{
		"config.yaml": {config, "not an edgespool spool"},
		"empty.db":    {[]byte{}, "not an edgespool spool"},
		"missing.db":  {nil, "no such file"},
	}
	cmds := [][]string{{"stat"}, {"stat", "-json"}, {"dump"}, {"compact"}, {"repair"}, {"remove-cursor", "-name", "x"}}
	for name, f := range files {
		dir := t.TempDir()
		path := filepath.Join(dir, name)
		if f.content != nil {
			if err := os.WriteFile(path, f.content, 0o640); err != nil {
				t.Fatal(err)
			}
		}
		before := stateOf(t, path)
		time.Sleep(10 * time.Millisecond) // a write would show in the mtime
		for _, c := range cmds {
			args := append(append([]string{"spool"}, c...), "-spool", path)
			code, out, errOut := runCmd(args...)
			if code != 1 || !strings.Contains(errOut, f.msg) {
				t.Errorf("%s %v: exit %d, want 1 with %q; output %q %q", name, c, code, f.msg, out, errOut)
			}
			after := stateOf(t, path)
			if (before == nil) != (after == nil) || before != nil && (!bytes.Equal(before.data, after.data) || !before.mtime.Equal(after.mtime)) {
				t.Fatalf("%s %v changed the file", name, c)
			}
			if entries, _ := os.ReadDir(dir); len(entries) > 1 || f.content == nil && len(entries) > 0 {
				t.Fatalf("%s %v wrote files: %v", name, c, entries)
			}
		}
	}
}

// testSpool writes a spool with a reading, a point, two dead letters (text
// and binary payloads) and cursors of consumers "kafka" and "influx".
func testSpool(t *testing.T, path string) {
	t.Helper()
	s, err := spool.Open(path, spool.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	r := model.Reading{GeneratorID: "gen-7", Time: 1_700_000_000_000_000_000, Seq: 3, Temperature: 81, Fuel: 640}
	p := model.Point{Reading: r, Window: r.Time, Alarm: "refuel", Region: "US"}
	dls := []model.DeadLetter{
		{Source: "mqtt", Reason: "bad json", Topic: "gen/gen-7", Key: "gen-7", At: time.Unix(1_700_000_000, 0), Payload: []byte(`{"fuel": oops`)},
		{Source: "kafka", Reason: "too large", Key: "gen-7", At: time.Unix(1_700_000_000, 0), Payload: []byte{0xff, 0x00, 0xfe}},
	}
	recs := []spool.Record{
		{Stream: model.StreamRaw, Key: r.GeneratorID, Time: r.Time, Value: model.AppendReading(nil, r)},
		{Stream: model.StreamDownsampled, Key: r.GeneratorID, Time: r.Time, Value: model.AppendPoint(nil, p)},
		deadRecord(dls[0]), deadRecord(dls[1]),
	}
	if err := s.Append(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"kafka", "influx"} {
		if err := s.Ack(c, model.StreamRaw, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func deadRecord(d model.DeadLetter) spool.Record {
	return spool.Record{Stream: model.StreamDeadLetter, Key: d.Key, Time: d.At.UnixNano(), Value: d.Encode()}
}

func dumpLines(t *testing.T, path, stream string) []map[string]any {
	t.Helper()
	code, out, errOut := runCmd("spool", "dump", "-stream", stream, "-spool", path)
	if code != 0 {
		t.Fatalf("dump %s: exit %d %s", stream, code, errOut)
	}
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("dump line %q: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	return lines
}

func TestSpoolDumpDecodesEveryStream(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	testSpool(t, path)
	before := stateOf(t, path)
	raw := dumpLines(t, path, "raw")
	if len(raw) != 1 || fmt.Sprint(raw[0]["reading"].(map[string]any)["Fuel"]) != "640" || raw[0]["key"] != "gen-7" {
		t.Fatalf("raw: %v", raw)
	}
	ds := dumpLines(t, path, "downsampled")
	if len(ds) != 1 || ds[0]["point"].(map[string]any)["Alarm"] != "refuel" {
		t.Fatalf("downsampled: %v", ds)
	}
	dl := dumpLines(t, path, "deadletter")
	if len(dl) != 2 {
		t.Fatalf("deadletter: %v", dl)
	}
	text, bin := dl[0]["dead_letter"].(map[string]any), dl[1]["dead_letter"].(map[string]any)
	if text["reason"] != "bad json" || text["source"] != "mqtt" || text["payload"].(map[string]any)["text"] != `{"fuel": oops` {
		t.Fatalf("text dead letter: %v", text)
	}
	if bin["payload"].(map[string]any)["base64"] != "/wD+" {
		t.Fatalf("binary dead letter: %v", bin)
	}
	code, _, errOut := runCmd("spool", "dump", "-stream", "rwa", "-spool", path)
	if code != 1 || !strings.Contains(errOut, `no stream "rwa"`) || !strings.Contains(errOut, "deadletter, downsampled, raw") {
		t.Fatalf("unknown stream: exit %d %q", code, errOut)
	}
	if after := stateOf(t, path); !bytes.Equal(before.data, after.data) || !before.mtime.Equal(after.mtime) {
		t.Fatal("dump changed the spool")
	}
}

func TestSpoolRemoveCursor(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	testSpool(t, path)
	code, out, errOut := runCmd("spool", "remove-cursor", "-name", "influx", "-spool", path)
	if code != 0 || !strings.Contains(out, "removed the cursors of influx on raw") {
		t.Fatalf("remove-cursor: exit %d %q %q", code, out, errOut)
	}
	code, out, _ = runCmd("spool", "stat", "-spool", path)
	if code != 0 || strings.Contains(out, "influx") || !strings.Contains(out, "kafka") {
		t.Fatalf("stat after remove-cursor: %q", out)
	}
	if code, _, errOut := runCmd("spool", "remove-cursor", "-name", "influx", "-spool", path); code != 1 || !strings.Contains(errOut, "no cursor") {
		t.Fatalf("second remove-cursor: exit %d %q", code, errOut)
	}
}

func TestSpoolRepairSalvagesAndReports(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	s, err := spool.Open(path, spool.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 30; i++ {
		recs := make([]spool.Record, 100)
		for j := range recs {
			recs[j] = spool.Record{Stream: "raw", Value: fmt.Appendf(nil, "record-%06d-%s", i*100+j, strings.Repeat("x", 100))}
		}
		if err := s.Append(context.Background(), recs); err != nil {
			t.Fatal(err)
		}
	}
	_ = s.Close()
	data, _ := os.ReadFile(path)
	ps := os.Getpagesize()
	page := bytes.Index(data, []byte("record-001500-")) / ps * ps
	copy(data[page:page+ps], bytes.Repeat([]byte{0xa5}, ps))
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCmd("spool", "stat", "-spool", path); code != 1 || !strings.Contains(errOut, "spool repair") {
		t.Fatalf("stat of a damaged spool: exit %d %q", code, errOut)
	}
	code, out, errOut := runCmd("spool", "repair", "-spool", path)
	if code != 0 || !strings.Contains(out, "damaged; salvaged") || !strings.Contains(out, "kept at "+path+".corrupt-") {
		t.Fatalf("repair: exit %d %q %q", code, out, errOut)
	}
	if code, out, _ := runCmd("spool", "repair", "-spool", path); code != 0 || !strings.Contains(out, "sound, nothing to repair") {
		t.Fatalf("second repair: exit %d %q", code, out)
	}
}

func TestSpoolCompactKeepsOwnerAndMode(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the file to another user")
	}
	path := filepath.Join(t.TempDir(), "spool.db")
	testSpool(t, path)
	if err := os.Chown(path, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCmd("spool", "compact", "-spool", path); code != 0 {
		t.Fatalf("compact: exit %d %q %q", code, out, errOut)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != 65534 || st.Gid != 65534 || fi.Mode().Perm() != 0o640 {
		t.Fatalf("after compact: owner %d:%d mode %v", st.Uid, st.Gid, fi.Mode().Perm())
	}
}
