package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/edgespool/edgespool/sim/fleet"
)

// The Grafana dashboard and the Prometheus alert rules shipped with the
// packages.
const (
	dashboardFile = "../../packaging/monitoring/edgespool-dashboard.json"
	alertsFile    = "../../packaging/monitoring/edgespool-alerts.yml"
)

// promSynthetic are series Prometheus makes itself rather than scraping.
var promSynthetic = map[string]bool{"up": true}

// Every metric the dashboard and the alert rules query exists on a real
// agent's /metrics. The agent runs with both sinks against real servers, a
// small spool and its links cut for a while, so that the series created by
// those events (send errors, spool drops) exist too.
func TestDashboardMetricsExist(t *testing.T) {
	refs := referencedMetrics(t)
	e := newEnv(t)
	a := e.newAgent(t, agentOptions{})
	a.setSpoolMaxBytes("1MiB")
	a.start()

	first := startFleet(t, e.broker.URL, 1, fleet.Options{Generators: 4, Rate: 50, Duration: 2 * time.Second, Seed: 21})
	first.wait(t)
	total := first.published()
	a.waitDrained(total, 60*time.Second)

	e.cut(t)
	backlog := startFleet(t, e.broker.URL, 1, fleet.Options{Generators: 10, First: 101, Rate: 400, Duration: 4 * time.Second, Seed: 22})
	backlog.wait(t)
	total += backlog.published()
	missing := a.waitMetrics(refs, 30*time.Second)
	m := a.metrics()
	t.Logf("links cut: %d readings published, spool holds %.0f of %.0f bytes", total,
		m["edgespool_spool_logical_bytes"], m["edgespool_spool_cap_bytes"])
	e.restore(t)
	a.waitDrained(total, 90*time.Second)
	if len(missing) > 0 {
		missing = a.waitMetrics(refs, 5*time.Second)
	}
	for _, m := range missing {
		t.Errorf("%s is queried by %s but not exposed on /metrics", m, strings.Join(refs[m], " and "))
	}
	t.Logf("%d metric names referenced by the dashboard and the rules, %d missing", len(refs), len(missing))
	a.term()
}

// The name extraction that TestDashboardMetricsExist relies on.
func TestDashboardPromQLNames(t *testing.T) {
	cases := []struct{ expr, want string }{
		{`rate(edgespool_a_total{instance=~"$instance"}[$__rate_interval])`, "edgespool_a_total"},
		{`histogram_quantile(0.99, sum by (instance, le) (rate(x_seconds_bucket{a="b"}[5m])))`, "x_seconds_bucket"},
		{`a_bytes / on(instance) group_left(sink) b_bytes > 0.8`, "a_bytes b_bytes"},
		{`up{job="edgespool"} == 0 and bool c offset 5m`, "c up"},
		{`time() - process_start_time_seconds{x="sum(y)"}`, "process_start_time_seconds"},
		{`increase(d_total[10m]) > 0 or increase(e_total[10m]) > 0 unless f`, "d_total e_total f"},
		{`label_values(edgespool_mqtt_connected, instance)`, "edgespool_mqtt_connected"},
	}
	for _, c := range cases {
		if got := strings.Join(promqlMetricNames(c.expr), " "); got != c.want {
			t.Errorf("%s: got %q, want %q", c.expr, got, c.want)
		}
	}
}

// referencedMetrics reads the metric names the dashboard and the rules
// query, each with the files that query it. It also checks the dashboard
// takes its data source from the variable.
func referencedMetrics(t *testing.T) map[string][]string {
	t.Helper()
	refs := map[string][]string{}
	add := func(file string, exprs []string) {
		if len(exprs) == 0 {
			t.Fatalf("%s: no queries found", file)
		}
		for _, e := range exprs {
			for _, n := range promqlMetricNames(e) {
				if !slices.Contains(refs[n], file) {
					refs[n] = append(refs[n], file)
				}
			}
		}
	}
	add("the dashboard", dashboardQueries(t))
	add("the alert rules", alertExprs(t))
	return refs
}

// dashboardQueries returns every query of the dashboard: panel targets and
// template variables.
func dashboardQueries(t *testing.T) []string {
	t.Helper()
	var d struct {
		Templating struct {
			List []struct {
				Name, Type string
				Query      any
			}
		}
		Panels []dashPanel
	}
	readJSON(t, dashboardFile, &d)
	var out []string
	hasDS := false
	for _, v := range d.Templating.List {
		switch {
		case v.Type == "datasource" && v.Name == "datasource" && v.Query == "prometheus":
			hasDS = true
		case v.Type == "query":
			q, _ := v.Query.(map[string]any)
			s, _ := q["query"].(string)
			out = append(out, s)
		}
	}
	if !hasDS {
		t.Errorf("dashboard: no Prometheus data source variable named datasource")
	}
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if p.Datasource.UID != "${datasource}" {
			t.Errorf("dashboard panel %q: data source %q, want the variable ${datasource}", p.Title, p.Datasource.UID)
		}
		for _, tg := range p.Targets {
			out = append(out, tg.Expr)
		}
	}
	return out
}

type dashPanel struct {
	Type, Title string
	Datasource  struct{ UID string }
	Targets     []struct{ Expr string }
}

// alertExprs returns the expr of every rule in the alert rules file.
func alertExprs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []struct{ Alert, Expr string }
		}
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", alertsFile, err)
	}
	var out []string
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			out = append(out, r.Expr)
		}
	}
	return out
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

var (
	promString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promMatchers = regexp.MustCompile(`\{[^}]*\}|\[[^\]]*\]`)
	promGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	promKeywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true,
		"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
		"inf": true, "nan": true}
	grafanaLabelValues = regexp.MustCompile(`^\s*label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)`)
)

// promqlMetricNames returns the sorted metric names a PromQL expression (or
// a Grafana label_values query) selects: identifiers outside strings, label
// matchers, ranges and grouping lists that are neither functions nor
// keywords.
func promqlMetricNames(expr string) []string {
	if m := grafanaLabelValues.FindStringSubmatch(expr); m != nil {
		return []string{m[1]}
	}
	s := promString.ReplaceAllString(expr, `""`)
	s = promMatchers.ReplaceAllString(s, " ")
	s = promGrouping.ReplaceAllString(s, " ")
	seen := map[string]bool{}
	for _, loc := range promIdent.FindAllStringIndex(s, -1) {
		name := s[loc[0]:loc[1]]
		rest := strings.TrimLeft(s[loc[1]:], " \t\n")
		if promKeywords[strings.ToLower(name)] || strings.HasPrefix(rest, "(") ||
			(loc[0] > 0 && (s[loc[0]-1] >= '0' && s[loc[0]-1] <= '9' || s[loc[0]-1] == '.')) {
			continue
		}
		seen[name] = true
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// setSpoolMaxBytes sets spool.max_bytes in the agent's configuration.
func (a *agentProc) setSpoolMaxBytes(size string) {
	a.tb.Helper()
	b, err := os.ReadFile(a.cfgPath)
	if err != nil {
		a.tb.Fatal(err)
	}
	conf := strings.Replace(string(b), "\nspool:\n", "\nspool:\n  max_bytes: "+size+"\n", 1)
	if conf == string(b) {
		a.tb.Fatal("no spool section in the agent's configuration")
	}
	if err := os.WriteFile(a.cfgPath, []byte(conf), 0o644); err != nil {
		a.tb.Fatal(err)
	}
}

// waitMetrics polls /metrics until every name in refs is exposed, or the
// timeout passes, and returns the names still missing.
func (a *agentProc) waitMetrics(refs map[string][]string, timeout time.Duration) []string {
	deadline := time.Now().Add(timeout)
	for {
		missing := missingMetrics(refs, a.metricTypes())
		if len(missing) == 0 || time.Now().After(deadline) {
			return missing
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// missingMetrics are the names in refs that are neither a family in types
// nor a histogram's _bucket/_sum/_count series (or a summary's _sum/_count).
func missingMetrics(refs map[string][]string, types map[string]string) []string {
	var missing []string
	for name := range refs {
		if promSynthetic[name] || types[name] != "" {
			continue
		}
		found := false
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			base, ok := strings.CutSuffix(name, suffix)
			typ := types[base]
			if ok && (typ == "histogram" || typ == "summary" && suffix != "_bucket") {
				found = true
			}
		}
		if !found {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	return missing
}

// metricTypes scrapes /metrics into family name -> type (from # TYPE lines).
func (a *agentProc) metricTypes() map[string]string {
	out := map[string]string{}
	resp, err := a.client.Get("http://" + a.httpAddr + "/metrics")
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return out
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var name, typ string
		if n, _ := fmt.Sscanf(sc.Text(), "# TYPE %s %s", &name, &typ); n == 2 {
			out[name] = typ
		}
	}
	return out
}
