package tests

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// The proofs of the prometheus_operator table on a real API server, past TestOperatorLive's:
// a monitor's basicAuth from a Secret, three runners sharing the monitors' targets, and the monitors' db
// annotations routing their data to databases of a real InfluxDB.

// operatorApp is a Service whose pods each serve one exporter of a PodNet, and its one EndpointSlice:
// what a ServiceMonitor selecting app=name finds.
func operatorApp(t *testing.T, k *KubeCluster, ns, name string, exporters ...string) {
	t.Helper()
	svc := kubernetesService(ns, name, name)
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name + "-1", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("metrics"), Port: ptr.To(int32(9100)), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	for i, addr := range exporters {
		pod := kubernetesPod(ns, fmt.Sprintf("%s-%d", name, i), &Exporter{Addr: addr}, map[string]string{"app": name})
		k.Apply(pod)
		host, _, _ := net.SplitHostPort(addr)
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{Addresses: []string{host}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: pod.Name}})
	}
	k.Apply(svc, slice)
}

// The password a monitor's basicAuth reads from its Secret, the one node_exporter accepts (bcrypt below,
// cost 4), and the wrong one the Secret is changed to: neither may show anywhere.
const (
	operatorUser        = "scraper"
	operatorPassword    = "right-SECRET-4e1b"
	operatorPasswordBad = "wrong-SECRET-93d7"
	operatorBcrypt      = "$2a$04$BHndy.ATbitrSjIpJYQDAuQpZVZrtCL6DmF02mE7tOInaoeDLyg8m"
)

// A ServiceMonitor's basicAuth, read from a Secret through the API: node_exporter, which asks for basic
// auth (its --web.config.file), answers the scrapes (up = 1); the Secret changed to a wrong password
// reaches the running job (the Secret is watched) and the scrapes fail (401: up = 0, the error on
// /api/v1/targets). No page or API of the status server, and no line of the log, shows either password,
// as it is or as it goes on the wire.
func TestOperatorBasicAuth(t *testing.T) {
	k := StartKubeAPIServer(t)
	pods := NewPodNet(t)
	ns := k.Namespace()

	// node_exporter in the pod network, behind basic auth.
	webConfig := filepath.Join(t.TempDir(), "web.yml")
	require.NoError(t, os.WriteFile(webConfig, []byte(fmt.Sprintf("basic_auth_users:\n  %s: %s\n", operatorUser, operatorBcrypt)), 0o644))
	addr := net.JoinHostPort(pods.IP(t), "9100")
	cmd := pods.Command(needBinary(t, "prometheus-node-exporter"), "--web.listen-address="+addr, "--web.config.file="+webConfig,
		"--collector.disable-defaults", "--collector.loadavg")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	status := func(user, password string) int {
		req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/metrics", nil)
		require.NoError(t, err)
		if user != "" {
			req.SetBasicAuth(user, password)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	Eventually(t, 10*time.Second, "node_exporter answers", func() bool { return status("", "") != 0 })
	require.Equal(t, http.StatusUnauthorized, status("", ""), "node_exporter asks for credentials")
	require.Equal(t, http.StatusOK, status(operatorUser, operatorPassword), "node_exporter takes the right ones")

	operatorApp(t, k, ns, "node", addr)
	secrets := k.Client.CoreV1().Secrets(ns)
	_, err := secrets.Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "scrape-auth"},
		Data:       map[string][]byte{"user": []byte(operatorUser), "password": []byte(operatorPassword)},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	createServiceMonitor(t, k, ns, `
metadata: {name: node}
spec:
  selector: {matchLabels: {app: node}}
  endpoints:
  - port: metrics
    interval: 1s
    basicAuth:
      username: {name: scrape-auth, key: user}
      password: {name: scrape-auth, key: password}`)

	// The whole log: the plugin's, and the Kubernetes client's, which goes through Go's standard logger.
	var stdlog lockedBuffer
	log.SetOutput(io.MultiWriter(os.Stderr, &stdlog))
	t.Cleanup(func() { log.SetOutput(os.Stderr) })
	r := StartPlugin(t, fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  status_address = "127.0.0.1:0"
  kapacitor_config_api = true
  kapacitor_overrides_file = %q
  [inputs.discovering_prometheus.prometheus_operator]
%s    namespaces = [%q]
`, filepath.Join(t.TempDir(), "overrides.json"), kubernetesServer(k), ns))
	pool := "serviceMonitor/" + ns + "/node/0"
	up := func(want float64) func([]telegraf.Metric) bool {
		return func(ms []telegraf.Metric) bool {
			got, ok := Up(ms)[addr]
			return ok && got == want
		}
	}
	ms := r.GatherUntil(20*time.Second, "node_exporter scraped with the Secret's credentials", up(1))
	require.NotEmpty(t, Find(ms, "node_load1", map[string]string{"instance": addr, "service": "node"}), "node_exporter's samples")
	target := func() (health, lastError string) {
		var body struct {
			Data struct {
				Active []struct {
					ScrapePool, Health, LastError string
				} `json:"activeTargets"`
			} `json:"data"`
		}
		require.NoError(t, json.Unmarshal([]byte(get(t, statusBase(r)+"/api/v1/targets")), &body))
		require.Len(t, body.Data.Active, 1)
		require.Equal(t, pool, body.Data.Active[0].ScrapePool)
		return body.Data.Active[0].Health, body.Data.Active[0].LastError
	}
	health, lastError := target()
	require.Equal(t, "up", health, lastError)
	pages := []map[string]string{statusPages(t, r)}

	// The Secret changes: the running job takes the wrong password.
	secret, err := secrets.Get(context.Background(), "scrape-auth", metav1.GetOptions{})
	require.NoError(t, err)
	secret.Data["password"] = []byte(operatorPasswordBad)
	changed := time.Now()
	_, err = secrets.Update(context.Background(), secret, metav1.UpdateOptions{})
	require.NoError(t, err)
	r.GatherUntil(20*time.Second, "the scrapes refused once the Secret changed", up(0))
	t.Logf("the Secret's change reached the scrapes in %s", time.Since(changed).Round(time.Millisecond))
	health, lastError = target()
	require.Equal(t, "down", health)
	require.Contains(t, lastError, "401 Unauthorized")
	pages = append(pages, statusPages(t, r))

	for name, form := range map[string]string{
		"the password": operatorPassword, "the wrong password": operatorPasswordBad,
		"the basic auth of the password":       base64.StdEncoding.EncodeToString([]byte(operatorUser + ":" + operatorPassword)),
		"the basic auth of the wrong password": base64.StdEncoding.EncodeToString([]byte(operatorUser + ":" + operatorPasswordBad)),
	} {
		for _, fetched := range pages {
			for path, page := range fetched {
				require.Falsef(t, strings.Contains(page, form), "%s holds %s", path, name)
			}
		}
		require.Falsef(t, strings.Contains(logText(r.Log), form), "the plugin's log holds %s", name)
		require.Falsef(t, strings.Contains(stdlog.String(), form), "the standard log holds %s", name)
	}
	require.Contains(t, logText(r.Log), pool, "the log names the job")
}

// statusBase is the status server's address.
func statusBase(r *Run) string { return strings.TrimSuffix(r.Plugin.StatusURL(), "/targets") }

// statusPages fetches every page and API of the status server, by path: the pages, each target's relabel
// steps (page and API), the targets API in every state, /metrics, the readiness and Kapacitor's config API.
func statusPages(t *testing.T, r *Run) map[string]string {
	t.Helper()
	base := statusBase(r)
	pages := map[string]string{}
	for _, path := range []string{"/targets", "/targets?health=down", "/service-discovery", "/api/v1/targets",
		"/api/v1/targets?state=any", "/api/v1/targets?state=dropped", "/metrics", "/-/healthy", "/-/ready", "/kapacitor/v1/config"} {
		pages[path] = get(t, base+path)
	}
	links := relabelStepsLink.FindAllStringSubmatch(pages["/service-discovery"], -1)
	require.NotEmpty(t, links, "/service-discovery links each target's relabel steps")
	for _, link := range links {
		query := strings.ReplaceAll(link[1], "&amp;", "&")
		for _, path := range []string{"/relabel-steps?", "/api/v1/targets/relabel_steps?"} {
			pages[path+query] = get(t, base+path+query)
		}
	}
	return pages
}

// seriesInstance is the instance tag of a series key of SHOW SERIES.
var seriesInstance = regexp.MustCompile(`,instance=([^,]+)`)

var relabelStepsLink = regexp.MustCompile(`class="steps" href="relabel-steps\?([^"]+)"`)

// Three runners with the same prometheus_operator table and a cluster table (replication-factor = 1, the
// three listed in a file) share the targets of two ServiceMonitors: in each round of gathers every
// target is in exactly one runner's output, always the same, and the union is all of them. Counted at
// the exporters too: the requests counter each one serves grows by one a round, so no other scraper
// (one that printed nothing) asked.
func TestOperatorCluster(t *testing.T) {
	k := StartKubeAPIServer(t)
	pods := NewPodNet(t)
	ns := k.Namespace()
	var all []string
	for _, app := range []string{"web", "api"} {
		var addrs []string
		for i := range 5 {
			addrs = append(addrs, pods.Exporter(t, fmt.Sprintf("%s-%d", app, i)).Addr)
		}
		operatorApp(t, k, ns, app, addrs...)
		createServiceMonitor(t, k, ns, fmt.Sprintf(`
metadata: {name: %s}
spec: {selector: {matchLabels: {app: %[1]s}}, endpoints: [{port: metrics, interval: 2s}]}`, app))
		all = append(all, addrs...)
	}
	sort.Strings(all)

	peers := filepath.Join(t.TempDir(), "peers.json")
	port := FreePort(t)
	var selves []string
	for i := range 3 {
		selves = append(selves, fmt.Sprintf("127.0.0.%d:%d", i+1, port))
	}
	list, err := json.Marshal([]map[string]any{{"targets": selves}})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(peers, list, 0o644))
	runners := make([]*Process, len(selves))
	for i, self := range selves {
		runners[i] = StartRunner(t, fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  scrape_align_interval = "2s"
  [inputs.discovering_prometheus.prometheus_operator]
%s    namespaces = [%q]
  [[inputs.discovering_prometheus.file-discovery]]
    id = "peers"
    files = [%q]
  [inputs.discovering_prometheus.cluster]
    discoverer-service = "file-discovery"
    discoverer-id = "peers"
    self = %q
    replication-factor = 1
`, kubernetesServer(k), ns, peers, self), nil)
	}
	for i, r := range runners {
		Eventually(t, 30*time.Second, selves[i]+" sees three instances", func() bool {
			return strings.Contains(r.Stderr(), "cluster: 3 instances share the targets")
		})
	}

	// round gathers once on each runner at the same time: which runners printed each target's up, and the
	// requests its exporter had served before that scrape. The targets are scraped at each even second
	// (scrape_align_interval), the rounds at the odd ones: a round prints the one scrape since the last (a
	// round's gathers take about a second).
	type scrape struct {
		runners  []int
		requests float64
	}
	round := func() map[string]*scrape {
		odd := time.Now().Truncate(2 * time.Second).Add(time.Second)
		if time.Until(odd) <= 0 {
			odd = odd.Add(2 * time.Second)
		}
		time.Sleep(time.Until(odd))
		outputs := make([][]telegraf.Metric, len(runners))
		var wg sync.WaitGroup
		for i, r := range runners {
			wg.Go(func() { outputs[i] = r.Gather() })
		}
		wg.Wait()
		got := map[string]*scrape{}
		for i, ms := range outputs {
			for instance := range Up(ms) {
				if got[instance] == nil {
					got[instance] = &scrape{}
				}
				got[instance].runners = append(got[instance].runners, i)
			}
			for _, m := range Find(ms, "exporter_requests_total", map[string]string{"code": "200"}) {
				v, _ := m.GetField("value")
				got[m.Tags()["instance"]].requests, _ = v.(float64)
			}
		}
		return got
	}
	start := time.Now()
	var last map[string]*scrape
	for !sameKeys(last, all) {
		require.Less(t, time.Since(start), 30*time.Second, "every target scraped; the last round had %v\nrunner stderr:\n%s", slices.Sorted(maps.Keys(last)), runners[0].Stderr())
		last = round()
	}
	t.Logf("every target scraped %s after the runners started", time.Since(start).Round(time.Millisecond))

	owner, counted := map[string]int{}, 0
	for i := range 5 {
		got := round()
		require.Equal(t, all, slices.Sorted(maps.Keys(got)), "round %d: the targets scraped", i)
		perRunner := make([]int, len(runners))
		for _, addr := range all {
			s := got[addr]
			require.Len(t, s.runners, 1, "round %d: %s is scraped by exactly one runner: %v", i, addr, s.runners)
			if o, ok := owner[addr]; ok {
				require.Equal(t, o, s.runners[0], "round %d: %s keeps its runner", i, addr)
			}
			owner[addr] = s.runners[0]
			perRunner[s.runners[0]]++
			if prev := last[addr]; prev != nil && prev.requests > 0 {
				require.Equal(t, prev.requests+1, s.requests, "round %d: %s served one scrape since the last round", i, addr)
				counted++
			}
		}
		if i == 0 {
			// All on one runner would be exactly once too, but not shared (by chance: 3 in 3^10).
			require.Less(t, slices.Max(perRunner), len(all), "the targets are shared: %v", perRunner)
			t.Logf("targets per runner: %v", perRunner)
		}
		last = got
	}
	require.GreaterOrEqual(t, counted, 4*len(all), "the exporters' requests counted from the second round on")
}

// sameKeys tells whether the map's keys are the sorted want.
func sameKeys[V any](m map[string]V, want []string) bool {
	return slices.Equal(slices.Sorted(maps.Keys(m)), want)
}

// Three ServiceMonitors, two with their own discovering-prometheus.io/db annotation, scraped by the
// custom Telegraf (the plugin compiled in) whose outputs.influxdb routes by the db tag: each monitor's
// series are in its database of a real InfluxDB, and in no other; the one without annotation in the
// table's db.
func TestOperatorRoutesToInfluxDB(t *testing.T) {
	k := StartKubeAPIServer(t)
	pods := NewPodNet(t)
	ns := k.Namespace()
	db := StartInfluxDB(t)
	for _, name := range []string{"telegraf", "team_a", "team_b", "k8s"} {
		db.Query(t, "", fmt.Sprintf("CREATE DATABASE %q", name))
	}
	// The exporters of each monitor (service a, b, c), by the database they should land in.
	want := map[string]map[string][]string{}
	for app, annotation := range map[string]string{"a": "team_a", "b": "team_b", "c": ""} {
		addrs := []string{pods.Exporter(t, app+"-0").Addr, pods.Exporter(t, app+"-1").Addr}
		sort.Strings(addrs)
		operatorApp(t, k, ns, app, addrs...)
		annotations, database := "{}", annotation
		if annotation != "" {
			annotations = fmt.Sprintf("{discovering-prometheus.io/db: %s}", annotation)
		} else {
			database = "k8s"
		}
		createServiceMonitor(t, k, ns, fmt.Sprintf(`
metadata: {name: %s, annotations: %s}
spec: {selector: {matchLabels: {app: %[1]s}}, endpoints: [{port: metrics, interval: 1s}]}`, app, annotations))
		want[database] = map[string][]string{app: addrs}
	}
	logs := StartTelegraf(t, agentConf+fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  [inputs.discovering_prometheus.prometheus_operator]
%s    namespaces = [%q]
    db = "k8s"
`, kubernetesServer(k), ns)+influxOutput(db))

	// landed is, in each database, the instances of exporter_info's series by their service.
	landed := func() map[string]map[string][]string {
		out := map[string]map[string][]string{}
		for database := range want {
			out[database] = map[string][]string{}
			for _, s := range db.Query(t, database, `SELECT last("value") FROM "autogen"."exporter_info" GROUP BY "service", "instance"`) {
				out[database][s.Tags["service"]] = append(out[database][s.Tags["service"]], s.Tags["instance"])
			}
			for _, instances := range out[database] {
				sort.Strings(instances)
			}
		}
		return out
	}
	start := time.Now()
	for got := landed(); !reflect.DeepEqual(got, want); got = landed() {
		require.Less(t, time.Since(start), 30*time.Second, "every monitor's exporters in its database, none in another: %v", got)
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("every monitor's series in InfluxDB %s after Telegraf started", time.Since(start).Round(time.Millisecond))
	// A few more writes, then still each monitor's series in its database alone, whatever the measurement.
	time.Sleep(3 * time.Second)
	require.Equal(t, want, landed())
	for database, services := range want {
		mine := slices.Concat(slices.Collect(maps.Values(services))...)
		for _, row := range db.Query(t, database, `SHOW SERIES`)[0].Values {
			instance := seriesInstance.FindStringSubmatch(row[0].(string))
			require.NotNil(t, instance, "%s: a series without instance: %s", database, row[0])
			require.Contains(t, mine, instance[1], "%s: a series of another monitor: %s", database, row[0])
		}
	}
	require.Empty(t, db.Query(t, "telegraf", `SELECT * FROM /.*/`), "nothing in Telegraf's default database")
	require.NotContains(t, strings.ToLower(logs.String()), "database not found")
}

// A one-shot run (-once) of the runner with the prometheus_operator table scrapes the targets of the
// monitors that exist when it starts: its first gather waits for the objects' jobs and their discoverers,
// as for the configuration's own.
func TestOperatorOnce(t *testing.T) {
	k := StartKubeAPIServer(t)
	pods := NewPodNet(t)
	ns := k.Namespace()
	web := pods.Exporter(t, "web-0")
	operatorApp(t, k, ns, "web", web.Addr)
	createServiceMonitor(t, k, ns, `
metadata: {name: web}
spec: {selector: {matchLabels: {app: web}}, endpoints: [{port: metrics}]}`)

	cmd := exec.Command(RunnerBinary(t), "-once", "-config", writeConfig(t, operatorPluginTOML(k, ns)))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "%s", stderr.String())
	require.Regexp(t, fmt.Sprintf(`(?m)^up,.*,db=k8s,.*,instance=%s,.* value=1 `, regexp.QuoteMeta(web.Addr)), string(out),
		"the monitor's target scraped in the one-shot output")
}
