package tests

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/stretchr/testify/require"
)

func init() {
	discovererTests["marathon"] = testMarathon
}

// marathonConfig is a plugin configuration whose scraper takes the [[marathon]] section "dcos" of the
// given fake, with the given auth keys.
func marathonConfig(f *marathonFake, auth string) string {
	return fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  [[inputs.discovering_prometheus.scraper]]
    name = "marathon"
    db = "metrics"
    rp = "week"
    discoverer-service = "marathon"
    discoverer-id = "dcos"
    scrape-interval = "1s"
    [[inputs.discovering_prometheus.scraper.relabel-configs]]
      source-labels = ["__meta_marathon_app"]
      target-label = "app"
  [[inputs.discovering_prometheus.marathon]]
    id = "dcos"
    servers = [%q]
    timeout = "2s"
    refresh-interval = "1s"
    ssl-ca = %q
%s`, f.URL, f.CAFile, auth)
}

func marathonPort(e *Exporter) int {
	p, _ := strconv.Atoi(e.Port())
	return p
}

// marathonWeb is an app with host networking whose port definition leaves the port to Mesos: each task
// says which host port it got.
func marathonWeb(tasks ...*Exporter) marathonFakeApp {
	var ts []map[string]any
	for _, e := range tasks {
		ts = append(ts, marathonFakeTask("/web", "web."+e.Port(), "127.0.0.1", []int{marathonPort(e)}))
	}
	return marathonFakeApp{
		"id": "/web", "instances": len(ts), "tasksRunning": len(ts), "tasksHealthy": len(ts),
		"labels":          map[string]string{"team": "frontend"},
		"container":       map[string]any{"type": "DOCKER", "docker": map[string]any{"image": "exporter:1"}},
		"portDefinitions": []map[string]any{{"port": 10000, "protocol": "tcp", "name": "metrics", "labels": map[string]string{"metrics": "true"}}},
		"requirePorts":    false,
		"healthChecks":    []map[string]any{{"protocol": "MESOS_HTTP", "path": "/metrics", "portIndex": 0}},
		"tasks":           ts,
	}
}

// marathonDB is a Docker app on a bridge network (Marathon 1.5's container.portMappings) whose host port
// Mesos picks.
func marathonDB(e *Exporter) marathonFakeApp {
	return marathonFakeApp{
		"id": "/db", "instances": 1, "tasksRunning": 1,
		"networks": []map[string]any{{"mode": "container/bridge"}},
		"container": map[string]any{"type": "DOCKER", "docker": map[string]any{"image": "db-exporter:2"},
			"portMappings": []map[string]any{{"containerPort": 9100, "hostPort": 0, "servicePort": 10001, "protocol": "tcp", "labels": map[string]string{"scrape": "yes"}}}},
		"tasks": []map[string]any{marathonFakeTask("/db", "db.1", "127.0.0.1", []int{marathonPort(e)})},
	}
}

// marathonAPI is an app on a container network: it is reached on its container IP and container port,
// not on the agent's host.
func marathonAPI(e *Exporter) marathonFakeApp {
	return marathonFakeApp{
		"id": "/api", "instances": 1, "tasksRunning": 1,
		"networks":  []map[string]any{{"mode": "container", "name": "dcos"}},
		"container": map[string]any{"type": "MESOS", "portMappings": []map[string]any{{"containerPort": marathonPort(e), "name": "metrics"}}},
		"tasks":     []map[string]any{marathonFakeTask("/api", "api.1", "10.255.0.9", nil, "127.0.0.1")},
	}
}

func testMarathon(t *testing.T) {
	a, b, c, d := StartExporter(t, "a"), StartExporter(t, "b"), StartExporter(t, "c"), StartExporter(t, "d")
	f := startMarathonFake(t, "token=dcos-secret")
	f.SetApps(marathonWeb(a, b), marathonDB(c))
	r := StartPlugin(t, marathonConfig(f, `    auth-token = "dcos-secret"`))

	ms := r.Gather()
	require.Equal(t, map[string]float64{a.Addr: 1, b.Addr: 1, c.Addr: 1}, Up(ms))
	for e, app := range map[*Exporter]string{a: "/web", b: "/web", c: "/db"} {
		info := Find(ms, "exporter_info", map[string]string{"instance": e.Addr})
		require.Len(t, info, 1)
		require.Equal(t, map[string]string{
			"__name__": "exporter_info", "instance": e.Addr, "exporter": info[0].Tags()["exporter"],
			"app": app, "db": "metrics", "rp": "week",
		}, info[0].Tags())
	}
	web := map[string]string{
		"__meta_marathon_app": "/web", "__meta_marathon_image": "exporter:1", "__meta_marathon_app_label_team": "frontend",
		"__meta_marathon_port_index": "0", "__meta_marathon_port_definition_label_metrics": "true",
	}
	require.Equal(t, map[string]map[string]string{
		a.Addr: sdMerge(web, map[string]string{"__address__": a.Addr, "__meta_marathon_task": "web." + a.Port()}),
		b.Addr: sdMerge(web, map[string]string{"__address__": b.Addr, "__meta_marathon_task": "web." + b.Port()}),
		c.Addr: {
			"__address__": c.Addr, "__meta_marathon_app": "/db", "__meta_marathon_image": "db-exporter:2",
			"__meta_marathon_task": "db.1", "__meta_marathon_port_index": "0", "__meta_marathon_port_mapping_label_scrape": "yes",
		},
	}, sdLabelsByInstance(r))
	auths, uris := f.Seen()
	require.NotEmpty(t, auths)
	for i := range auths {
		require.Equal(t, "token=dcos-secret", auths[i], "DC/OS' token scheme")
		require.Equal(t, "/v2/apps/?embed=apps.tasks", uris[i])
	}

	// /web scaled down to a, /api deployed on a container network: the next gathers follow.
	f.SetApps(marathonWeb(a), marathonDB(c), marathonAPI(d))
	r.GatherUntil(10*time.Second, "b gone and d found on its container IP", func(ms []telegraf.Metric) bool {
		return strings.Join(Instances(ms, "exporter_info"), ",") == strings.Join(sorted(a.Addr, c.Addr, d.Addr), ",")
	})
	require.Equal(t, "/api", sdLabelsByInstance(r)[d.Addr]["__meta_marathon_app"])

	// Marathon without a leader answers 503 at each refresh: logged once, the last targets still scraped.
	f.SetMode("503")
	Eventually(t, 10*time.Second, "two refreshes answered 503", func() bool {
		return f.Count("503") >= 2 && CountLog(r.Log, 'E', "Unable to refresh")+CountLog(r.Log, 'D', "Unable to refresh") >= 2
	})
	require.Equal(t, map[string]float64{a.Addr: 1, c.Addr: 1, d.Addr: 1}, Up(r.Gather()))
	require.Equal(t, 1, CountLog(r.Log, 'E', "Unable to refresh target groups", "non 2xx status '503'"), "%v", r.Log.Messages())

	// Marathon accepts the requests and never answers: each is given up after timeout (2s), logged once.
	// Meanwhile /db is destroyed.
	f.SetMode("hang")
	f.SetApps(marathonWeb(a), marathonAPI(d))
	Eventually(t, 20*time.Second, "two refreshes timed out", func() bool {
		return f.Count("hang") >= 2 && CountLog(r.Log, 'E', "did not answer")+CountLog(r.Log, 'D', "did not answer") >= 2
	})
	require.Equal(t, map[string]float64{a.Addr: 1, c.Addr: 1, d.Addr: 1}, Up(r.Gather()))
	require.Equal(t, 1, CountLog(r.Log, 'E', "Marathon did not answer within timeout", "timeout=2s"), "%v", r.Log.Messages())

	// Marathon answers again: /db, gone while the discoverer was being restarted, is gone here too.
	f.SetMode("")
	r.GatherUntil(10*time.Second, "c gone after the recovery", func(ms []telegraf.Metric) bool {
		return strings.Join(Instances(ms, "exporter_info"), ",") == strings.Join(sorted(a.Addr, d.Addr), ",")
	})
	require.Equal(t, 1, CountLog(r.Log, 'I', "discoverer recovered", `marathon "dcos"`), "%v", r.Log.Messages())

	// Each of the other ways to authenticate reaches the wire.
	tokenFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte("from-file\n"), 0o600))
	for _, tc := range []struct{ name, keys, header string }{
		{"bearer-token", `    bearer-token = "kapacitor-secret"`, "Bearer kapacitor-secret"},
		{"basic", "    username = \"marathon\"\n    password = \"pw\"", "Basic " + base64.StdEncoding.EncodeToString([]byte("marathon:pw"))},
		{"auth-token-file", fmt.Sprintf("    auth-token-file = %q", tokenFile), "token=from-file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startMarathonFake(t, tc.header)
			f.SetApps(marathonWeb(a))
			require.Equal(t, map[string]float64{a.Addr: 1}, Up(StartPlugin(t, marathonConfig(f, tc.keys)).Gather()))
			auths, _ := f.Seen()
			require.Equal(t, tc.header, auths[0])
		})
	}
}
