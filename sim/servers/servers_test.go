package servers

import (
	"net"
	"strings"
	"testing"
)

func TestAdvertListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	l := AdvertListener{ln, "127.0.0.1:9"}
	if got := l.Addr().String(); got != "127.0.0.1:9" {
		t.Errorf("Addr() = %q, want the advertised 127.0.0.1:9", got)
	}
	bad := AdvertListener{ln, "not an address"}
	if got, want := bad.Addr().String(), ln.Addr().String(); got != want {
		t.Errorf("Addr() with unresolvable advert = %q, want the real %q", got, want)
	}
}

func TestInfluxdConfig(t *testing.T) {
	conf := string(InfluxdConfig("/d", "127.0.0.1:1", "127.0.0.1:2"))
	for _, want := range []string{
		"\nbind-address = \"127.0.0.1:1\"\n",
		"dir = \"/d/meta\"",
		"dir = \"/d/data\"",
		"wal-dir = \"/d/wal\"",
		"  bind-address = \"127.0.0.1:2\"\n",
		"flux-enabled = true",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("config lacks %q:\n%s", want, conf)
		}
	}
	if strings.Contains(conf, "%!") {
		t.Errorf("config has a formatting error:\n%s", conf)
	}
}
