package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgespool/edgespool/sim/testenv"
)

// TestSecretsNeverShown plants a secret in every credential field and in
// the userinfo of every URL, then runs check-config (with -connect) and
// the agent (text and JSON logs) against a Mosquitto that requires the
// password, reads /status and /metrics, and looks for the secret in all
// of it.
func TestSecretsNeverShown(t *testing.T) {
	const secret = "s3cr3t"
	bin, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		t.Skip("mosquitto_passwd not installed")
	}
	pwFile := filepath.Join(t.TempDir(), "passwd")
	if out, err := exec.Command(bin, "-c", "-b", pwFile, "edge", secret+"-url").CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v %s", err, out)
	}
	broker := testenv.Mosquitto(t, testenv.BrokerConfig("allow_anonymous false", "password_file "+pwFile))
	dead := testenv.FreePort(t) // sinks are unreachable: their errors are logged
	for _, format := range []string{"text", "json"} {
		dir := t.TempDir()
		a := &agentProc{t: t, cfg: filepath.Join(dir, "edgespool.yaml"),
			http: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))}
		conf := fmt.Sprintf(`mqtt:
  broker: tcp://edge:%[1]s-url@%[2]s
  client_id: secrets-test
  username: edge
  password: %[1]s-mqtt-field
spool:
  path: %[3]s/spool.db
kafka:
  enabled: true
  brokers: ["127.0.0.1:%[4]d"]
  sasl: {mechanism: PLAIN, username: edge, password: %[1]s-kafka}
influxdb:
  enabled: true
  url: http://admin:%[1]s-influx-url@127.0.0.1:%[4]d
  token: %[1]s-influx-token
uplink: {backoff_min: 10ms, backoff_max: 50ms}
http:
  listen: %[5]s
log:
  level: debug
  format: %[6]s
`, secret, broker.Addr, dir, dead, a.http, format)
		os.WriteFile(a.cfg, []byte(conf), 0o644)
		_, out, errOut := runCmd("check-config", "-config", a.cfg, "-connect", "-timeout", "2s")
		shown := out + errOut
		if !strings.Contains(out, "mqtt tcp://edge:xxxxx@") || !strings.Contains(out, "mqtt tcp://edge:xxxxx@"+broker.Addr+": ok") {
			t.Errorf("check-config -connect: %s", shown)
		}
		a.log, _ = os.Create(filepath.Join(dir, "agent.log"))
		a.start()
		a.waitReady()
		time.Sleep(500 * time.Millisecond) // forwarders fail and retry meanwhile
		for _, path := range []string{"/status", "/metrics"} {
			shown += get(t, "http://"+a.http+path)
		}
		a.term()
		a.log.Close()
		logs, _ := os.ReadFile(a.log.Name())
		if !strings.Contains(string(logs), "edgespool running") {
			t.Fatalf("agent log incomplete:\n%s", logs)
		}
		shown += string(logs)
		if strings.Contains(shown, secret) {
			for _, line := range strings.Split(shown, "\n") {
				if strings.Contains(line, secret) {
					t.Errorf("%s: secret shown: %s", format, line)
				}
			}
		}
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
