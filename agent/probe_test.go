package agent

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/edgespool/edgespool/agent/config"
	"github.com/edgespool/edgespool/sim/testenv"
)

// passwordBroker starts Mosquitto that accepts only user edge / pw.
func passwordBroker(t *testing.T, pw string) *testenv.Broker {
	t.Helper()
	bin, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		t.Skip("mosquitto_passwd not installed")
	}
	file := filepath.Join(t.TempDir(), "passwd")
	if out, err := exec.Command(bin, "-c", "-b", file, "edge", pw).CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v %s", err, out)
	}
	return testenv.Mosquitto(t, testenv.BrokerConfig("allow_anonymous false", "password_file "+file))
}

func probe(t *testing.T, cfg config.Config) map[string]ProbeResult {
	t.Helper()
	got := map[string]ProbeResult{}
	for _, r := range Probe(context.Background(), cfg, 5*time.Second) {
		got[r.Name] = r
	}
	return got
}

func TestProbeRealServers(t *testing.T) {
	broker := passwordBroker(t, "mqtt-pw")
	kafka := testenv.Kafka(t, testenv.KafkaOpts(kfake.EnableSASL(), kfake.Superuser("PLAIN", "edge", "kafka-pw"),
		kfake.SeedTopics(1, "raw_t", "down_t")))
	influx := testenv.Influx(t)
	influx.CreateDB(t, "rawdb")
	influx.CreateDB(t, "downdb")

	cfg := config.Default()
	cfg.MQTT.Broker, cfg.MQTT.ClientID = broker.URL, "probe-test"
	cfg.MQTT.Username, cfg.MQTT.Password = "edge", "mqtt-pw"
	cfg.Kafka.Enabled, cfg.Kafka.Brokers = true, kafka.Addrs
	cfg.Kafka.RawTopic, cfg.Kafka.DownsampledTopic = "raw_t", "down_t"
	cfg.Kafka.SASL = config.SASL{Mechanism: "PLAIN", Username: "edge", Password: "kafka-pw"}
	cfg.InfluxDB.Enabled, cfg.InfluxDB.URL = true, influx.URL
	cfg.InfluxDB.RawBucket, cfg.InfluxDB.DownsampledBucket = "rawdb", "downdb"
	for name, r := range probe(t, cfg) {
		if r.Err != nil {
			t.Errorf("%s: %v (hint %q)", name, r.Err, r.Hint)
		}
	}

	bad := cfg
	bad.MQTT.Password = "wrong"
	bad.Kafka.SASL.Password = "wrong"
	bad.InfluxDB.DownsampledBucket = "nodb"
	got := probe(t, bad)
	expectFailure(t, got["mqtt"], "mqtt.password")
	expectFailure(t, got["kafka"], "kafka.sasl")
	expectFailure(t, got["influxdb"], "does not exist")

	bad = cfg
	bad.Kafka.DownsampledTopic = "missing_topic"
	bad.MQTT.Broker = "tcp://edge:mqtt-pw@" + broker.Addr // credentials in the URL work too
	bad.MQTT.Username, bad.MQTT.Password = "", ""
	got = probe(t, bad)
	expectFailure(t, got["kafka"], "create the topic")
	if got["mqtt"].Err != nil || strings.Contains(got["mqtt"].Target, "mqtt-pw") {
		t.Errorf("mqtt with URL credentials: %+v", got["mqtt"])
	}
}

func TestProbeWrongPort(t *testing.T) {
	port := testenv.FreePort(t)
	cfg := config.Default()
	cfg.MQTT.Broker, cfg.MQTT.ClientID = "tcp://user:topsecret@127.0.0.1:"+strconv.Itoa(port), "probe-test"
	cfg.Kafka.Enabled, cfg.Kafka.Brokers = true, []string{"127.0.0.1:" + strconv.Itoa(port)}
	cfg.InfluxDB.Enabled, cfg.InfluxDB.URL = true, "http://admin:topsecret@127.0.0.1:"+strconv.Itoa(port)
	got := probe(t, cfg)
	for _, name := range []string{"mqtt", "kafka", "influxdb"} {
		expectFailure(t, got[name], "nothing listens there")
		if r := got[name]; strings.Contains(r.Target+r.Err.Error(), "topsecret") {
			t.Errorf("%s shows the password: %s %v", name, r.Target, r.Err)
		}
	}
}

func expectFailure(t *testing.T, r ProbeResult, hint string) {
	t.Helper()
	if r.Err == nil || !strings.Contains(r.Hint+r.Err.Error(), hint) {
		t.Errorf("%s: err %v, hint %q; want a failure mentioning %q", r.Name, r.Err, r.Hint, hint)
	}
}
