package broker

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/edgespool/edgespool/agent/intake"
	"github.com/edgespool/edgespool/agent/model"
	"github.com/edgespool/edgespool/spool"
)

// startIntake opens a spool with fsync and a local intake on it.
func startIntake(tb testing.TB, dir string) (*intake.Intake, *spool.Spool) {
	tb.Helper()
	sp, err := spool.Open(filepath.Join(dir, "spool.db"), spool.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	in := intake.NewLocal(sp, intake.Options{MaxInflight: 4096})
	if err := in.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = in.Stop(ctx)
		_ = sp.Close()
	})
	return in, sp
}

func reading(gen string, seq int) string {
	return fmt.Sprintf(`{"generatorID":%q,"seq":%d,"ts":%d,"lat":40.7,"lon":-74.0,"temperature":205,"power":1534,"load":62,"fuel":900}`,
		gen, seq, time.Now().UnixMilli())
}

func lastSeq(sp *spool.Spool, stream string) uint64 { return sp.Stats().Streams[stream].LastSeq }

// Readings from pipelined QoS 1 publishers reach the spool through the
// intake's group commit, in publish order per generator; a rejected payload goes to the dead-letter stream
// and is acknowledged too; a local subscriber gets the committed readings.
func TestReadingsReachSpool(t *testing.T) {
	in, sp := startIntake(t, t.TempDir())
	_, url := startBroker(t, in, Options{AllowAnonymous: true, Forward: true})
	sub := mustDial(t, url, "sub", "", "")
	got := make(chan string, 4000)
	if tok := sub.Subscribe("emergency_generator/+", 1, func(_ paho.Client, m paho.Message) { got <- string(m.Payload()) }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal("subscribe failed")
	}
	const pubs, per = 4, 500
	errs := make(chan error, pubs)
	for p := range pubs {
		go func() {
			c, err := dial(t, url, fmt.Sprintf("dev%d", p), "", "")
			if err != nil {
				errs <- err
				return
			}
			var toks []paho.Token
			for s := 1; s <= per; s++ {
				toks = append(toks, c.Publish(fmt.Sprintf("emergency_generator/g%d", p), 1, false, reading(fmt.Sprintf("g%d", p), s)))
			}
			toks = append(toks, c.Publish("emergency_generator/bad", 1, false, "not a reading"))
			for _, tok := range toks {
				if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
					errs <- fmt.Errorf("publisher %d: not acknowledged: %v", p, tok.Error())
					return
				}
			}
			errs <- nil
		}()
	}
	for range pubs {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := lastSeq(sp, model.StreamRaw); n != pubs*per {
		t.Errorf("raw stream holds %d readings, want %d", n, pubs*per)
	}
	if n := lastSeq(sp, model.StreamDeadLetter); n != pubs {
		t.Errorf("dead-letter stream holds %d records, want %d", n, pubs)
	}
	last := map[string]uint64{}
	err := sp.Scan(model.StreamRaw, 0, func(r spool.Record) error {
		rd, err := model.DecodeReading(r.Value)
		if err != nil {
			return err
		}
		if rd.Seq != last[rd.GeneratorID]+1 {
			return fmt.Errorf("%s: seq %d after %d in the spool", rd.GeneratorID, rd.Seq, last[rd.GeneratorID])
		}
		last[rd.GeneratorID] = rd.Seq
		return nil
	})
	if err != nil {
		t.Errorf("spool order: %v", err)
	}
	waitFor(t, "readings forwarded to the subscriber", func() bool { return len(got) >= pubs*per })
	if len(got) != pubs*per {
		t.Errorf("subscriber got %d messages, want %d (rejected payloads are not forwarded)", len(got), pubs*per)
	}
}

// rawClient speaks MQTT 5 over a plain connection, to read reason codes.
type rawClient struct {
	c net.Conn
	r *bufio.Reader
}

func dialRaw5(tb testing.TB, url string) *rawClient {
	tb.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "tcp://"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	rc := &rawClient{c: c, r: bufio.NewReader(c)}
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 5,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 30, ClientIdentifier: "raw5"}}
	rc.send(tb, pk)
	if typ, body := rc.read(tb); typ != packets.Connack || body[1] != 0 {
		tb.Fatalf("CONNACK: type %d body %x", typ, body)
	}
	return rc
}

func (rc *rawClient) send(tb testing.TB, pk packets.Packet) {
	tb.Helper()
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&buf)
	case packets.Publish:
		err = pk.PublishEncode(&buf)
	}
	if err == nil {
		_, err = rc.c.Write(buf.Bytes())
	}
	if err != nil {
		tb.Fatal(err)
	}
}

// read returns the next packet's type and body.
func (rc *rawClient) read(tb testing.TB) (byte, []byte) {
	tb.Helper()
	_ = rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	h, err := rc.r.ReadByte()
	if err != nil {
		tb.Fatal(err)
	}
	n, _, err := packets.DecodeLength(rc.r)
	if err != nil {
		tb.Fatal(err)
	}
	body := make([]byte, n)
	if _, err := rc.r.Read(body); err != nil && n > 0 {
		tb.Fatal(err)
	}
	return h >> 4, body
}

// An MQTT 5 client learns that a payload was rejected (reason code 0x99)
// and that a good one was stored (0, or no reason code).
func TestMQTT5ReasonCodes(t *testing.T) {
	in, sp := startIntake(t, t.TempDir())
	_, url := startBroker(t, in, Options{AllowAnonymous: true})
	rc := dialRaw5(t, url)
	for id, payload := range map[uint16]string{1: "garbage", 2: reading("g1", 1)} {
		rc.send(t, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, ProtocolVersion: 5,
			TopicName: "emergency_generator/g1", PacketID: id, Payload: []byte(payload)})
		typ, body := rc.read(t)
		if typ != packets.Puback || uint16(body[0])<<8|uint16(body[1]) != id {
			t.Fatalf("want PUBACK of %d, got type %d body %x", id, typ, body)
		}
		code := byte(0)
		if len(body) > 2 {
			code = body[2]
		}
		if want := map[uint16]byte{1: 0x99, 2: 0}[id]; code != want {
			t.Errorf("PUBACK %d reason %#x, want %#x", id, code, want)
		}
	}
	if lastSeq(sp, model.StreamRaw) != 1 || lastSeq(sp, model.StreamDeadLetter) != 1 {
		t.Errorf("spool: raw %d dead-letter %d, want 1 and 1", lastSeq(sp, model.StreamRaw), lastSeq(sp, model.StreamDeadLetter))
	}
}

// Retained messages the broker publishes (the alarms) survive a restart.
func TestRetainedSurviveRestart(t *testing.T) {
	file := filepath.Join(t.TempDir(), "retained")
	b1, _ := startBroker(t, &holdSink{}, Options{AllowAnonymous: true, RetainedFile: file})
	if err := b1.Publish("emergency_generator/g1/alarm", []byte(`{"alarm":"refuel"}`), true); err != nil {
		t.Fatal(err)
	}
	if err := b1.Publish("emergency_generator/g2/alarm", []byte(`{"alarm":"refuel"}`), true); err != nil {
		t.Fatal(err)
	}
	if err := b1.Publish("emergency_generator/g2/alarm", nil, true); err != nil { // cleared
		t.Fatal(err)
	}
	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}
	_, url := startBroker(t, &holdSink{}, Options{AllowAnonymous: true, RetainedFile: file})
	c := mustDial(t, url, "sub", "", "")
	got := make(chan string, 10)
	c.Subscribe("emergency_generator/+/alarm", 1, func(_ paho.Client, m paho.Message) {
		got <- m.Topic() + " " + string(m.Payload())
	})
	select {
	case m := <-got:
		if m != `emergency_generator/g1/alarm {"alarm":"refuel"}` {
			t.Errorf("retained after restart: %s", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no retained message after restart")
	}
	select {
	case m := <-got:
		t.Errorf("cleared retained message came back: %s", m)
	case <-time.After(200 * time.Millisecond):
	}
}
