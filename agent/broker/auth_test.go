package broker

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"gopkg.in/yaml.v3"
)

func counterValue(c prometheus.Counter) float64 { return testutil.ToFloat64(c) }

func yamlMarshal(v any) ([]byte, error) { return yaml.Marshal(v) }

func TestCovers(t *testing.T) {
	for _, tc := range []struct {
		allowed, name string
		want          bool
	}{
		{"emergency_generator/+", "emergency_generator/g1", true},
		{"emergency_generator/+", "emergency_generator/g1/alarm", false},
		{"emergency_generator/+", "emergency_generator/+", true},
		{"emergency_generator/+", "emergency_generator/#", false},
		{"emergency_generator/#", "emergency_generator", true},
		{"emergency_generator/#", "emergency_generator/g1/alarm", true},
		{"emergency_generator/#", "#", false},
		{"#", "$SYS/broker/uptime", false},
		{"$SYS/#", "$SYS/broker/uptime", true},
		{"a/b", "a/b", true},
		{"a/b", "a/b/c", false},
		{"a/b/c", "a/b", false},
	} {
		if got := covers(tc.allowed, tc.name); got != tc.want {
			t.Errorf("covers(%q, %q) = %v, want %v", tc.allowed, tc.name, got, tc.want)
		}
	}
}

func TestParseUsersRejects(t *testing.T) {
	hash, err := HashPassword("pw", 4)
	if err != nil {
		t.Fatal(err)
	}
	for name, doc := range map[string]string{
		"unknown key":  "users:\n  - name: a\n    password_hash: '" + hash + "'\n    pasword: x\n",
		"plain text":   "users:\n  - name: a\n    password_hash: secret\n",
		"twice":        "users:\n  - {name: a, password_hash: '" + hash + "'}\n  - {name: a, password_hash: '" + hash + "'}\n",
		"bad filter":   "users:\n  - {name: a, password_hash: '" + hash + "', publish: ['a/#/b']}\n",
		"missing name": "users:\n  - {password_hash: '" + hash + "'}\n",
		"empty":        "\n",
	} {
		if _, err := ParseUsers([]byte(doc)); !errors.Is(err, ErrUsersFile) {
			t.Errorf("%s: got %v, want ErrUsersFile", name, err)
		}
	}
}

// Anonymous clients are refused unless allowed; a user needs the right
// password; each may publish and subscribe only within its rules.
func TestAuthAndTopicRules(t *testing.T) {
	dir := t.TempDir()
	users := writeUsers(t, dir,
		User{Name: "g1", PasswordHash: "pw1", Publish: []string{"emergency_generator/{username}"}},
		User{Name: "ops", PasswordHash: "pw2", Publish: []string{}, Subscribe: []string{"emergency_generator/#"}})
	sink := &holdSink{}
	b, url := startBroker(t, sink, Options{UsersFile: users, Publish: []string{"emergency_generator/+"}})
	if _, err := dial(t, url, "anon", "", ""); err == nil {
		t.Error("anonymous client accepted without allow_anonymous")
	}
	if _, err := dial(t, url, "bad", "g1", "wrong"); err == nil {
		t.Error("wrong password accepted")
	}
	if got := counterValue(b.m.limited[LimitAuth]); got != 2 {
		t.Errorf("auth refusals counted %v, want 2", got)
	}
	g1 := mustDial(t, url, "g1", "g1", "pw1")
	ops := mustDial(t, url, "ops", "ops", "pw2")
	if tok := ops.Subscribe("#", 1, nil); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
		if q := tok.(interface{ Result() map[string]byte }).Result()["#"]; q < 0x80 {
			t.Errorf("subscription to # outside the rules granted QoS %d", q)
		}
	}
	if tok := ops.Subscribe("emergency_generator/#", 1, nil); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe within the rules: %v", tok.Error())
	}
	if tok := g1.Publish("emergency_generator/g1", 1, false, "x"); !tok.WaitTimeout(time.Second) {
		waitFor(t, "g1's own reading in the sink", func() bool { return sink.count() == 1 })
		sink.release()
		if !tok.WaitTimeout(5 * time.Second) {
			t.Fatal("own topic not acknowledged")
		}
	}
	g1.Publish("emergency_generator/g2", 1, false, "x") // MQTT 3: the broker disconnects
	waitFor(t, "g1 disconnected for publishing another's topic", func() bool { return !g1.IsConnectionOpen() })
	if sink.count() != 0 {
		t.Error("a reading outside the rules reached the sink")
	}
	if got := counterValue(b.m.limited[LimitACL]); got < 2 {
		t.Errorf("topic refusals counted %v, want at least 2", got)
	}
}

// A changed users file applies to the next connection.
func TestUsersReload(t *testing.T) {
	dir := t.TempDir()
	users := writeUsers(t, dir, User{Name: "a", PasswordHash: "pa"})
	_, url := startBroker(t, &holdSink{}, Options{UsersFile: users, UsersReload: 20 * time.Millisecond})
	mustDial(t, url, "a1", "a", "pa")
	if _, err := dial(t, url, "b1", "b", "pb"); err == nil {
		t.Fatal("unknown user accepted")
	}
	time.Sleep(20 * time.Millisecond) // a new modification time
	if err := SetUser(users, "b", "pb", 4); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "user b accepted after the reload", func() bool {
		_, err := dial(t, url, "b1", "b", "pb")
		return err == nil
	})
	for _, broken := range []string{"", "users: [oops"} { // an editor's truncate, then a typo
		if err := os.WriteFile(users, []byte(broken), 0o600); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	mustDial(t, url, "a2", "a", "pa") // a broken file keeps the previous users
}

func TestConnectionLimit(t *testing.T) {
	b, url := startBroker(t, &holdSink{}, Options{AllowAnonymous: true, MaxConnections: 2})
	mustDial(t, url, "c1", "", "")
	mustDial(t, url, "c2", "", "")
	if _, err := dial(t, url, "c3", "", ""); err == nil {
		t.Fatal("third connection accepted with max_connections 2")
	}
	if got := counterValue(b.m.limited[LimitConnections]); got != 1 {
		t.Errorf("connection refusals counted %v, want 1", got)
	}
}

func TestPacketSizeLimit(t *testing.T) {
	sink := &holdSink{}
	b, url := startBroker(t, sink, Options{AllowAnonymous: true, Publish: []string{"#"}, MaxPacketSize: 1024})
	c := mustDial(t, url, "big", "", "")
	c.Publish("t/1", 1, false, make([]byte, 4096))
	waitFor(t, "the oversized publisher disconnected", func() bool { return !c.IsConnectionOpen() })
	waitFor(t, "the packet size limit counted", func() bool { return counterValue(b.m.limited[LimitPacketSize]) == 1 })
	if sink.count() != 0 {
		t.Error("an oversized message reached the sink")
	}
}

func TestSetUserKeepsRules(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.yaml")
	if err := os.WriteFile(path, []byte("users:\n  - name: a\n    password_hash: $2a$04$abcdefghijklmnopqrstuu5S/eBIUoeF9ZJBJRl/.vwSq/P2dMTAu\n    publish: [x/y]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseUsers(mustRead(t, path)); err != nil {
		t.Skipf("fixture hash not accepted: %v", err)
	}
	if err := SetUser(path, "a", "new", 4); err != nil {
		t.Fatal(err)
	}
	f, err := ParseUsers(mustRead(t, path))
	if err != nil {
		t.Fatal(err)
	}
	u := newUsers(f, nil, nil)
	if !u.authenticate("a", []byte("new")) || u.authenticate("a", []byte("old")) {
		t.Error("password not replaced")
	}
	if got := u.rulesFor("a").publish; len(got) != 1 || got[0] != "x/y" {
		t.Errorf("rules after SetUser = %v, want [x/y]", got)
	}
}
