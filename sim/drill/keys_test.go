package drill

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/edgespool/edgespool/sim/jsonkeys"
)

// Every key of record.json, and so of the verdict that edgespool-sim
// drill -json prints, is snake_case.
func TestRecordKeysAreSnakeCase(t *testing.T) { jsonkeys.RequireSnake(t, Record{}) }

// statusSample is the agent's /status during an uplink outage, written by
// the agent's whole-pipeline test (agent/e2e, -update-status-sample), which
// also checks that the agent still writes every key of it.
var statusSample = filepath.Join("testdata", "agent-status.json")

// The drill reads only keys the agent writes, and reads the backlog, the
// spooled count and the links from a real /status.
func TestAgentStatusSample(t *testing.T) {
	b, err := os.ReadFile(statusSample)
	if err != nil {
		t.Fatal(err)
	}
	have, err := jsonkeys.Doc(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range jsonkeys.Type(reflect.TypeFor[agentStatus]()) {
		if !have[p] {
			t.Errorf("the drill reads %s, which the agent's /status does not have", p)
		}
	}
	var st agentStatus
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	sent, links := st.sinks()
	if st.backlog() == 0 || st.spooled() == 0 || st.StartedAt.IsZero() || st.Version == "" || !st.MQTT.Connected {
		t.Errorf("from %s: backlog %d, spooled %d, started %v, version %q, mqtt connected %v",
			statusSample, st.backlog(), st.spooled(), st.StartedAt, st.Version, st.MQTT.Connected)
	}
	if len(sent) != 2 || sent["kafka"] == 0 || links["kafka"] != "retrying" || links["influx"] != "retrying" {
		t.Errorf("from %s: sent %v, links %v", statusSample, sent, links)
	}
}
