package broker

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgespool/edgespool/agent/intake"
)

// holdSink keeps submitted messages until release acknowledges them: a
// stand-in for the intake whose commit the test controls.
type holdSink struct {
	mu   sync.Mutex
	msgs []intake.Message
}

func (s *holdSink) Submit(m intake.Message) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	return true
}

func (s *holdSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

// release acknowledges every held message, in order.
func (s *holdSink) release() {
	s.mu.Lock()
	msgs := s.msgs
	s.msgs = nil
	s.mu.Unlock()
	for _, m := range msgs {
		m.Ack()
	}
}

// startBroker starts a broker on a free loopback port; o.Listeners is set
// here. It returns the tcp:// URL.
func startBroker(tb testing.TB, sink Sink, o Options) (*Broker, string) {
	tb.Helper()
	o.Listeners = []Listener{{Kind: "tcp", Address: "127.0.0.1:0"}}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	b, err := New(sink, o)
	if err != nil {
		tb.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = b.Close() }) // ErrClosed after a test's own Close
	return b, b.Addrs()["tcp0"]
}

// dial connects a paho client; it fails the test unless the connection
// succeeds or wantErr.
func dial(tb testing.TB, url, id, user, pass string) (paho.Client, error) {
	tb.Helper()
	o := paho.NewClientOptions().AddBroker(url).SetClientID(id).SetUsername(user).SetPassword(pass).
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).SetProtocolVersion(4)
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, fmt.Errorf("connect timed out")
	}
	if tok.Error() != nil {
		return nil, tok.Error()
	}
	tb.Cleanup(func() { c.Disconnect(50) })
	return c, nil
}

func mustDial(tb testing.TB, url, id, user, pass string) paho.Client {
	tb.Helper()
	c, err := dial(tb, url, id, user, pass)
	if err != nil {
		tb.Fatalf("connect %s as %q: %v", url, user, err)
	}
	return c
}

func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The PUBACK of a QoS 1 PUBLISH leaves only once the sink acknowledges it.
func TestPubackWaitsForCommit(t *testing.T) {
	sink := &holdSink{}
	_, url := startBroker(t, sink, Options{AllowAnonymous: true, Publish: []string{"#"}})
	c := mustDial(t, url, "dev1", "", "")
	var toks []paho.Token
	for i := range 50 {
		toks = append(toks, c.Publish("emergency_generator/g1", 1, false, fmt.Sprintf(`{"seq":%d}`, i+1)))
	}
	waitFor(t, "50 messages in the sink", func() bool { return sink.count() == 50 })
	time.Sleep(100 * time.Millisecond)
	for i, tok := range toks {
		if tok.WaitTimeout(0) {
			t.Fatalf("message %d acknowledged before its commit", i)
		}
	}
	sink.release()
	for i, tok := range toks {
		if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("message %d not acknowledged after its commit: %v", i, tok.Error())
		}
	}
}

// A connection cannot hold more than ReceiveMaximum messages in the
// intake: the broker stops reading it until commits free the window.
func TestWindowBoundsOneConnection(t *testing.T) {
	sink := &holdSink{}
	b, url := startBroker(t, sink, Options{AllowAnonymous: true, Publish: []string{"#"}, ReceiveMaximum: 10,
		Registerer: nil})
	c := mustDial(t, url, "dev1", "", "")
	for i := range 30 {
		c.Publish("t/1", 1, false, fmt.Sprint(i))
	}
	waitFor(t, "a full window", func() bool { return sink.count() == 10 })
	time.Sleep(100 * time.Millisecond)
	if n := sink.count(); n != 10 {
		t.Fatalf("%d messages in the sink with a window of 10", n)
	}
	if got := counterValue(b.m.limited[LimitWindow]); got < 1 {
		t.Errorf("window limit counted %v times, want at least 1", got)
	}
	total := 0
	for total < 30 {
		waitFor(t, "more messages", func() bool { return sink.count() > 0 })
		total += sink.count()
		sink.release()
	}
	if total != 30 {
		t.Errorf("sink got %d messages, want 30", total)
	}
}

func writeUsers(tb testing.TB, dir string, users ...User) string {
	tb.Helper()
	path := filepath.Join(dir, "users.yaml")
	for _, u := range users {
		pass := u.PasswordHash // the clear password, for the test
		if err := SetUser(path, u.Name, pass, 4); err != nil {
			tb.Fatal(err)
		}
	}
	f, err := ParseUsers(mustRead(tb, path))
	if err != nil {
		tb.Fatal(err)
	}
	for i := range f.Users {
		f.Users[i].Publish, f.Users[i].Subscribe = users[i].Publish, users[i].Subscribe
	}
	out, err := yamlMarshal(f)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

func mustRead(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// StopAccepting closes the listeners and refuses new PUBLISHes, but the
// connections stay open for the PUBACKs of what the sink still holds.
func TestStopAcceptingKeepsPendingAcks(t *testing.T) {
	sink := &holdSink{}
	b, url := startBroker(t, sink, Options{AllowAnonymous: true, Publish: []string{"#"}})
	c := mustDial(t, url, "dev1", "", "")
	held := c.Publish("emergency_generator/g1", 1, false, `{"seq":1}`)
	waitFor(t, "the message in the sink", func() bool { return sink.count() == 1 })
	b.StopAccepting()
	if b.Listening() {
		t.Error("Listening after StopAccepting")
	}
	if _, err := dial(t, url, "dev2", "", ""); err == nil {
		t.Error("a new device connected after StopAccepting")
	}
	late := c.Publish("emergency_generator/g1", 1, false, `{"seq":2}`)
	time.Sleep(100 * time.Millisecond)
	if n := sink.count(); n != 1 {
		t.Errorf("%d messages submitted, want the PUBLISH after StopAccepting refused", n)
	}
	sink.release()
	if !held.WaitTimeout(5*time.Second) || held.Error() != nil {
		t.Errorf("the held message was not acknowledged after StopAccepting: %v", held.Error())
	}
	if late.WaitTimeout(100 * time.Millisecond) {
		t.Error("the PUBLISH after StopAccepting was acknowledged")
	}
	if err := b.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// Watch sees the broker's own publications and the retained one at once,
// and nothing after its stop.
func TestWatch(t *testing.T) {
	b, _ := startBroker(t, &holdSink{}, Options{AllowAnonymous: true})
	if err := b.Publish("emergency_generator/g1/alarm", []byte("old"), true); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	stop, err := b.Watch("emergency_generator/g1/alarm", func(p []byte) {
		mu.Lock()
		got = append(got, string(p))
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Publish("emergency_generator/g1/alarm", []byte("new"), false); err != nil {
		t.Fatal(err)
	}
	stop()
	if err := b.Publish("emergency_generator/g1/alarm", []byte("after"), false); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"old", "new"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("watched %q, want %q", got, want)
	}
}
