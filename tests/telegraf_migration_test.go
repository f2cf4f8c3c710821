package tests

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/plugins/parsers/influx"
	"github.com/influxdata/telegraf/testutil"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// migrationAgent is the [agent] table of the differential's telegraf.conf files.
const migrationAgent = `[agent]
  omit_hostname = true
  skip_processors_after_aggregators = true
`

// migrateTelegraf runs the runner's -migrate-telegraf on a telegraf.conf and returns the migrated file and
// the warnings.
func migrateTelegraf(t *testing.T, conf string) (migrated, stderr string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "telegraf.conf")
	require.NoError(t, os.WriteFile(path, []byte(conf), 0o644))
	cmd := exec.Command(RunnerBinary(t), "-migrate-telegraf", path)
	var out, errs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errs
	require.NoError(t, cmd.Run(), errs.String())
	return out.String(), errs.String()
}

// telegrafTest runs the custom Telegraf's --test on a configuration, inside the namespace if not nil, and
// returns the metrics it prints.
func telegrafTest(t *testing.T, conf string, ns *NetNS) []telegraf.Metric {
	t.Helper()
	path := filepath.Join(t.TempDir(), "telegraf.conf")
	require.NoError(t, os.WriteFile(path, []byte(conf), 0o644))
	cmd := exec.Command(TelegrafBinary(t), "--config", path, "--test")
	if ns != nil {
		cmd = ns.Command(TelegrafBinary(t), "--config", path, "--test")
	}
	var out, errs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errs
	require.NoError(t, cmd.Run(), errs.String())
	require.NotContains(t, errs.String(), "E! ", "telegraf --test logged an error")
	parser := &influx.Parser{}
	require.NoError(t, parser.Init())
	var ms []telegraf.Metric
	for _, line := range strings.Split(out.String(), "\n") {
		line, ok := strings.CutPrefix(line, "> ")
		if !ok {
			continue
		}
		m, err := parser.ParseLine(line)
		require.NoError(t, err, line)
		ms = append(ms, m)
	}
	return ms
}

// withoutSynthetic leaves out Prometheus' synthetic series (up, scrape_duration_seconds, ...), which the
// plugin writes for every target and inputs.prometheus does not have: in v1 measurements of their own, in
// v2 fields of measurement prometheus.
func withoutSynthetic(ms []telegraf.Metric) []telegraf.Metric {
	synthetic := []string{"up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_samples_post_metric_relabeling"}
	return slices.DeleteFunc(slices.Clone(ms), func(m telegraf.Metric) bool {
		fields := m.FieldList()
		return slices.Contains(synthetic, m.Name()) || m.Name() == "prometheus" && len(fields) == 1 && slices.Contains(synthetic, fields[0].Key)
	})
}

// differential runs a telegraf.conf of [[inputs.prometheus]] and its migration side by side in the custom
// Telegraf (--test: one gather each) and requires the same points, but for the synthetic series and for
// what normalize (applied to the points of both) and the options allow. It returns the migrated file, the
// migration's warnings and inputs.prometheus' points.
//
// inputs.prometheus' monitor_kubernetes_pods gathers as soon as its informer has listed the pods, which
// may be before its handlers have registered them all: given complete, its points are those of a running
// Telegraf once complete finds them so (telegrafPoints), not of --test.
func differential(t *testing.T, conf string, ns *NetNS, normalize func(telegraf.Metric) telegraf.Metric, complete func([]telegraf.Metric) bool, opts ...cmp.Option) (migrated, warnings string, theirs []telegraf.Metric) {
	t.Helper()
	migrated, warnings = migrateTelegraf(t, conf)
	require.NotRegexp(t, `(?m)^\s*\[\[inputs\.prometheus\]\]`, migrated)
	if complete != nil {
		theirs = telegrafPoints(t, conf, normalize, complete)
	} else {
		theirs = telegrafTest(t, conf, ns)
	}
	ours := withoutSynthetic(telegrafTest(t, migrated, ns))
	require.NotEmpty(t, theirs)
	normalized := func(ms []telegraf.Metric) []telegraf.Metric {
		out := make([]telegraf.Metric, len(ms))
		for i, m := range ms {
			out[i] = normalize(m.Copy())
		}
		return out
	}
	testutil.RequireMetricsEqual(t, normalized(theirs), normalized(ours), append([]cmp.Option{testutil.SortMetrics()}, opts...)...)
	return migrated, warnings, theirs
}

// startNodeExporter starts Debian's node_exporter on a loopback port with the given collectors only, and
// returns its address.
func startNodeExporter(t *testing.T, collectors ...string) string {
	bin := needBinary(t, "prometheus-node-exporter")
	addr := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	args := []string{"--web.listen-address=" + addr, "--collector.disable-defaults"}
	for _, c := range collectors {
		args = append(args, "--collector."+c)
	}
	cmd := exec.Command(bin, args...)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	Eventually(t, 10*time.Second, "node_exporter answers", func() bool {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK
	})
	return addr
}

// clientGolangExporter serves a counter, a gauge, a histogram and a summary through client_golang, which
// answers inputs.prometheus in protobuf and the plugin in OpenMetrics.
func clientGolangExporter(t *testing.T, addr string) string {
	reg := prometheus.NewRegistry()
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "app_requests_total", Help: "Requests."}, []string{"code"})
	temperature := prometheus.NewGauge(prometheus.GaugeOpts{Name: "app_temperature", Help: "Temperature."})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "app_latency_seconds", Help: "Latency.", Buckets: []float64{0.1, 1}}, []string{"path"})
	rpc := prometheus.NewSummary(prometheus.SummaryOpts{Name: "app_rpc_seconds", Help: "RPCs.", Objectives: map[float64]float64{0.5: 0.05, 0.99: 0.001}})
	reg.MustRegister(requests, temperature, latency, rpc)
	requests.WithLabelValues("200").Add(1027)
	temperature.Set(21.5)
	for _, v := range []float64{0.05, 0.5, 3} {
		latency.WithLabelValues("/a").Observe(v)
		rpc.Observe(v)
	}
	l, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l.Addr().String()
}

// An OpenMetrics body with timestamps, for whoever asks for OpenMetrics, and the same in the text format
// for the others, as a client that speaks both writes them.
const (
	migrationOpenMetrics = "# TYPE jobs counter\njobs_total{kind=\"a\"} 3 1700000000.5\n" +
		"# TYPE lat histogram\nlat_bucket{le=\"0.5\"} 1 1700000001\nlat_bucket{le=\"+Inf\"} 2 1700000001\nlat_count 2 1700000001\nlat_sum 1.5 1700000001\n# EOF\n"
	migrationText = "# TYPE jobs_total counter\njobs_total{kind=\"a\"} 3 1700000000500\n" +
		"# TYPE lat histogram\nlat_bucket{le=\"0.5\"} 1 1700000001000\nlat_bucket{le=\"+Inf\"} 2 1700000001000\nlat_count 2 1700000001000\nlat_sum 1.5 1700000001000\n"
)

func openMetricsTarget(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.Header.Get("Accept"), "application/openmetrics-text") {
			w.Header().Set("Content-Type", "application/openmetrics-text; version=1.0.0; charset=utf-8")
			fmt.Fprint(w, migrationOpenMetrics)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, migrationText)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// The static targets of urls, scraped by inputs.prometheus and by its migration, give the same points in
// both metric versions, with the plugin options of the table: real node_exporter, a client_golang exporter with a histogram and a summary, and
// an OpenMetrics target that sets timestamps, scraped through two URLs of other paths and a query.
func TestTelegrafMigrationURLs(t *testing.T) {
	node := startNodeExporter(t, "meminfo", "loadavg", "uname")
	// An environment variable in a value stays one: Telegraf expands it in the migrated file as it did in
	// the original.
	t.Setenv("DP_MIGRATION_NODE", node)
	app := clientGolangExporter(t, "127.0.0.1:0")
	om := openMetricsTarget(t)
	for _, version := range []int{1, 2} {
		t.Run(fmt.Sprintf("metric_version=%d", version), func(t *testing.T) {
			conf := fmt.Sprintf(`%s
# Exporters of the lab.
[[inputs.prometheus]]
  ## Every host's exporters.
  urls = ["http://${DP_MIGRATION_NODE}/metrics", "http://%s", "%s/other?b=2&a=1", "%s/metrics"]
  metric_version = %d
  tagexclude = ["cause"]
  [inputs.prometheus.tags]
    site = "lab"
`, migrationAgent, app, om, om, version)
			normalize := func(m telegraf.Metric) telegraf.Metric {
				if u, err := url.Parse(m.Tags()["url"]); err == nil && u.RawQuery != "" {
					// Prometheus writes a target's parameters sorted by name, inputs.prometheus as the URL
					// has them (README; the migration says so).
					u.RawQuery = u.Query().Encode()
					m.AddTag("url", u.String())
				}
				if strings.Contains(m.Tags()["url"], om) {
					return m
				}
				// Without a timestamp in the body, each stamps its gather's time.
				m.SetTime(time.Unix(0, 0))
				// node_exporter's values (load, memory, its own Go runtime) change from one scrape to the
				// next; their names and tags must not.
				if m.Tags()["url"] == "http://"+node+"/metrics" {
					for _, f := range m.FieldList() {
						m.AddField(f.Key, 0.0)
					}
				}
				return m
			}
			var opts []cmp.Option
			if version == 1 {
				// client_golang leaves a histogram's +Inf bucket out of protobuf (inputs.prometheus asks for
				// it); the plugin, answered in OpenMetrics, has it, equal to the count (README).
				opts = append(opts, testutil.IgnoreFields("+Inf"))
			}
			migrated, warnings, theirs := differential(t, conf, nil, normalize, nil, opts...)
			require.Equal(t, 1, strings.Count(warnings, "\n"), warnings)
			require.Contains(t, warnings, `:8: inputs.prometheus urls: done another way: the url tag of "`+om+`/other?b=2&a=1" has its query sorted`)
			require.Contains(t, migrated, "# Exporters of the lab.\n[[inputs.discovering_prometheus]]")
			require.Contains(t, migrated, `tagexclude = ["cause", "db", "rp"]`)
			require.Contains(t, migrated, `targets = ["${DP_MIGRATION_NODE}", `)
			require.Contains(t, migrated, "## Every host's exporters.")
			for _, want := range []string{"node_uname_info", "app_latency_seconds", "app_rpc_seconds", "jobs_total", "lat"} {
				require.True(t, slices.ContainsFunc(theirs, func(m telegraf.Metric) bool {
					_, ok := m.GetField(want)
					return m.Name() == want || ok || m.HasField(want+"_count")
				}), "no %s in %v", want, theirs)
			}
			require.True(t, slices.ContainsFunc(theirs, func(m telegraf.Metric) bool { return m.Tags()["url"] == om+"/other?b=2&a=1" }))
		})
	}
}

// pod is a running, ready pod with an IP of its own on loopback.
func migrationPod(name, ip string, annotations, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: name, UID: types.UID("uid-" + name), Labels: labels, Annotations: annotations},
		Spec:       corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "app", Image: "app"}}},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: ip, HostIP: "127.0.0.1",
			Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", ContainerID: "containerd://" + name}},
		},
	}
}

// invalidLabelChars are what Prometheus' kubernetes discovery makes _ in an annotation's or label's name.
var invalidLabelChars = regexp.MustCompile(`[^a-zA-Z0-9_]`)

// prometheusNames renames the tags of a metric as Prometheus names a pod's annotations and labels.
func prometheusNames(m telegraf.Metric) telegraf.Metric {
	for _, tag := range slices.Clone(m.TagList()) {
		if name := invalidLabelChars.ReplaceAllString(tag.Key, "_"); name != tag.Key {
			m.RemoveTag(tag.Key)
			m.AddTag(name, tag.Value)
		}
	}
	return m
}

// Pods with prometheus.io annotations on the Kubernetes fake, scraped by inputs.prometheus
// (monitor_kubernetes_pods, through its informers) and by its migration (the kubernetes discoverer and
// relabel rules), give the same points for each monitor_kubernetes_pods_method: the same pods (ready
// ones, by annotation or setting), on the same scheme, port and path, with the same tags (address,
// pod_name, namespace, the annotations and labels the include/exclude globs pass). One difference, kept
// on purpose: Prometheus names an annotation or label prometheus_io_port where inputs.prometheus tags it
// prometheus.io/port, since a label name has only letters, digits and _.
func TestTelegrafMigrationKubernetesPods(t *testing.T) {
	port := strconv.Itoa(FreePort(t))
	// Each pod's exporter on its own loopback address, all on one port (the setting's).
	for _, ip := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"} {
		clientGolangExporter(t, net.JoinHostPort(ip, port))
	}
	other := clientGolangExporter(t, "127.0.0.6:0")
	_, otherPort, _ := net.SplitHostPort(other)

	fake := startKubernetesFake(t, "token")
	annotated := map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": port, "team.io/owner": "a"}
	notReady := migrationPod("starting", "127.0.0.5", annotated, map[string]string{"app": "web"})
	notReady.Status.Conditions = nil
	fake.Apply(
		migrationPod("annotated", "127.0.0.2", annotated, map[string]string{"app": "web", "tier": "front"}),
		migrationPod("plain", "127.0.0.3", nil, map[string]string{"app": "web"}),
		migrationPod("opted-out", "127.0.0.4", map[string]string{"prometheus.io/scrape": "false"}, map[string]string{"app": "web"}),
		migrationPod("elsewhere", "127.0.0.6", map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": otherPort, "prometheus.io/path": "/metrics"}, map[string]string{"app": "web"}),
		migrationPod("other-app", "127.0.0.2", annotated, map[string]string{"app": "db"}),
		notReady,
	)
	kubeconfig := fake.WriteKubeconfig(t)

	sanitized := func(m telegraf.Metric) telegraf.Metric {
		m.SetTime(time.Unix(0, 0))
		return prometheusNames(m)
	}
	for _, tc := range []struct {
		method string
		pods   []string
	}{
		{"annotations", []string{"annotated", "elsewhere"}},
		{"settings", []string{"annotated", "plain", "opted-out", "elsewhere"}},
		{"settings+annotations", []string{"annotated", "plain", "elsewhere"}},
	} {
		t.Run(tc.method, func(t *testing.T) {
			conf := fmt.Sprintf(`%s
[[inputs.prometheus]]
  monitor_kubernetes_pods = true
  monitor_kubernetes_pods_method = %q
  monitor_kubernetes_pods_port = %s
  monitor_kubernetes_pods_namespace = "apps"
  kube_config = %q
  kubernetes_label_selector = "app=web"
  pod_annotation_exclude = ["prometheus.io/s*"]
  pod_label_include = ["app"]
  metric_version = 2
  namepass = ["prometheus"]
  fieldinclude = ["app_temperature"]
`, migrationAgent, tc.method, port, kubeconfig)
			slices.Sort(tc.pods)
			pods := func(ms []telegraf.Metric) []string {
				var names []string
				for _, m := range ms {
					names = append(names, m.Tags()["pod_name"])
				}
				slices.Sort(names)
				return names
			}
			_, warnings, theirs := differential(t, conf, nil, sanitized, func(ms []telegraf.Metric) bool { return slices.Equal(pods(ms), tc.pods) })
			require.Empty(t, warnings)
			require.Equal(t, tc.pods, pods(theirs))
			for _, m := range theirs {
				require.NotContains(t, m.Tags(), "tier")
				require.NotContains(t, m.Tags(), "prometheus.io/scrape")
			}
		})
	}
}

// telegrafPoints runs the custom Telegraf on a configuration, gathering every second into a file, until
// the distinct points written so far (normalized) are complete, and returns them. It is for
// inputs.prometheus' discoverers that answer after its first gather (consul, the kubelet, and pods at times).
func telegrafPoints(t *testing.T, conf string, normalize func(telegraf.Metric) telegraf.Metric, complete func([]telegraf.Metric) bool) []telegraf.Metric {
	t.Helper()
	out := filepath.Join(t.TempDir(), "points.out")
	conf = strings.Replace(conf, "[agent]", "[agent]\n  interval = \"1s\"\n  flush_interval = \"1s\"", 1) +
		fmt.Sprintf("\n[[outputs.file]]\n  files = [%q]\n", out)
	logs := StartTelegraf(t, conf)
	parser := &influx.Parser{}
	require.NoError(t, parser.Init())
	var points []telegraf.Metric
	Eventually(t, 30*time.Second, "inputs.prometheus' points", func() bool {
		data, _ := os.ReadFile(out)
		ms, err := parser.Parse(data[:bytes.LastIndexByte(data, '\n')+1])
		require.NoError(t, err)
		seen := map[string]bool{}
		points = nil
		for _, m := range ms {
			m = normalize(m)
			key := fmt.Sprint(m.Name(), m.TagList(), m.FieldList(), m.Time().UnixNano())
			if !seen[key] {
				seen[key] = true
				points = append(points, m)
			}
		}
		return complete(points)
	})
	require.NotContains(t, logs.String(), "E! ", "telegraf logged an error")
	return points
}

// Services of a Consul catalogue (the fake), found by inputs.prometheus' consul queries and by their
// migration (consul sections, the URL and tag templates as relabel rules: if/else, fields, metadata,
// join .ServiceTags), give the same points, the URL tagged under url_tag's name.
func TestTelegrafMigrationConsul(t *testing.T) {
	web := clientGolangExporter(t, "127.0.0.7:0")
	_, webPort, _ := net.SplitHostPort(web)
	api := clientGolangExporter(t, "127.0.0.8:0")
	_, apiPort, _ := net.SplitHostPort(api)
	consul := startConsulFake(t, "", "", "")
	consul.AddNode("node-a", consulFakeNode{Address: "127.0.0.7", Meta: map[string]string{"rack": "r1"}})
	consul.AddNode("node-b", consulFakeNode{Address: "127.0.0.9", Meta: map[string]string{"rack": "r2"}})
	port := func(p string) int { n, _ := strconv.Atoi(p); return n }
	// web on its node's address, api on a service address of its own; the third is another tag's.
	consul.Register(consulFakeInstance{Node: "node-a", Service: "app", ID: "web-1", Port: port(webPort), Tags: []string{"prod", "web"}, Meta: map[string]string{"team": "a"}, Status: "passing"})
	consul.Register(consulFakeInstance{Node: "node-b", Service: "app", ID: "api-1", Address: "127.0.0.8", Port: port(apiPort), Tags: []string{"prod", "api"}, Meta: map[string]string{"team": "b"}, Status: "critical"})
	consul.Register(consulFakeInstance{Node: "node-b", Service: "app", ID: "dev-1", Address: "127.0.0.10", Port: 1, Tags: []string{"dev"}, Status: "passing"})

	conf := fmt.Sprintf(`%s
[[inputs.prometheus]]
  metric_version = 2
  url_tag = "source"
  fieldinclude = ["app_temperature"]
  [inputs.prometheus.consul]
    enabled = true
    agent = %q
    query_interval = "1s"
    [[inputs.prometheus.consul.query]]
      name = "app"
      tag = "prod"
      url = 'http://{{if ne .ServiceAddress ""}}{{.ServiceAddress}}{{else}}{{.Address}}{{end}}:{{.ServicePort}}/metrics?x=1'
      [inputs.prometheus.consul.query.tags]
        node = "{{.Node}}"
        team = "{{.ServiceMeta.team}}/{{.NodeMeta.rack}}"
        tags = '{{join .ServiceTags ","}}'
`, migrationAgent, consul.Addr())
	migrated, warnings := migrateTelegraf(t, conf)
	require.Contains(t, warnings, "query_interval is not needed")
	normalize := func(m telegraf.Metric) telegraf.Metric {
		m.SetTime(time.Unix(0, 0))
		return m
	}
	theirs := telegrafPoints(t, conf, normalize, func(ms []telegraf.Metric) bool { return len(ms) == 2 })
	ours := withoutSynthetic(telegrafTest(t, migrated, nil))
	for i := range ours {
		ours[i] = normalize(ours[i])
	}
	testutil.RequireMetricsEqual(t, theirs, ours, testutil.SortMetrics())
	require.ElementsMatch(t, []string{"http://127.0.0.7:" + webPort + "/metrics?x=1", "http://127.0.0.8:" + apiPort + "/metrics?x=1"},
		[]string{theirs[0].Tags()["source"], theirs[1].Tags()["source"]})
	require.ElementsMatch(t, []string{"a/r1", "b/r2"}, []string{theirs[0].Tags()["team"], theirs[1].Tags()["team"]})
}

// kubernetes_services: a service's name resolves (dnsmasq, in a namespace of the test's) to two addresses,
// each scraped on the URL's port and tagged address, by inputs.prometheus (the system's resolver, at each
// gather) and by its migration (a dns section of A records). One difference, kept on purpose: the url tag
// holds the address scraped, where inputs.prometheus writes the service's URL.
func TestTelegrafMigrationKubernetesServices(t *testing.T) {
	ns := NewNetNS(t)
	StartExporterIn(t, ns, "svc-a", "127.0.0.2:9100")
	StartExporterIn(t, ns, "svc-b", "127.0.0.3:9100")
	StartDnsmasq(t, ns, "--host-record=svc.dp.test,127.0.0.2", "--host-record=svc.dp.test,127.0.0.3")
	conf := migrationAgent + `
[[inputs.prometheus]]
  kubernetes_services = ["http://svc.dp.test:9100/metrics"]
  metric_version = 2
  fieldinclude = ["exporter_info"]
`
	normalize := func(m telegraf.Metric) telegraf.Metric {
		m.AddTag("url", strings.Replace(m.Tags()["url"], "svc.dp.test", m.Tags()["address"], 1))
		m.SetTime(time.Unix(0, 0))
		return m
	}
	migrated, warnings, theirs := differential(t, conf, ns, normalize, nil)
	require.Empty(t, warnings)
	require.Contains(t, migrated, `record-names = ["svc.dp.test"]`)
	var addresses []string
	for _, m := range theirs {
		require.Equal(t, "http://svc.dp.test:9100/metrics", m.Tags()["url"])
		addresses = append(addresses, m.Tags()["address"])
	}
	require.ElementsMatch(t, []string{"127.0.0.2", "127.0.0.3"}, addresses)
}

// pod_scrape_scope = "node": inputs.prometheus lists its node's pods from the kubelet (a fake one, at
// node_ip:10250, answering its /pods), the migration watches them through the API server with the field
// selector spec.nodeName=${NODE_NAME}; both scrape the same pods, and only those of their node.
func TestTelegrafMigrationNodeScope(t *testing.T) {
	port := strconv.Itoa(FreePort(t))
	clientGolangExporter(t, "127.0.0.11:"+port)
	clientGolangExporter(t, "127.0.0.12:"+port)
	annotations := map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": port}
	here := migrationPod("here", "127.0.0.11", annotations, map[string]string{"app": "web"})
	there := migrationPod("there", "127.0.0.12", annotations, map[string]string{"app": "web"})
	there.Spec.NodeName = "node-2"
	fake := startKubernetesFake(t, "token")
	fake.Apply(here, there)

	// The kubelet of node-1 lists its own pods, to the service account's token.
	l, err := net.Listen("tcp", "127.0.0.9:10250")
	require.NoError(t, err)
	kubelet := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/pods" || r.Header.Get("Authorization") != "Bearer token" {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(kubernetesJSON(&corev1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}, Items: []corev1.Pod{*here}}))
	}))
	kubelet.Listener = l
	kubelet.StartTLS()
	t.Cleanup(kubelet.Close)

	t.Setenv("NODE_NAME", "node-1")
	conf := fmt.Sprintf(`%s
[[inputs.prometheus]]
  monitor_kubernetes_pods = true
  pod_scrape_scope = "node"
  node_ip = "127.0.0.9"
  kube_config = %q
  metric_version = 2
  fieldinclude = ["app_temperature"]
`, migrationAgent, fake.WriteKubeconfig(t))
	migrated, warnings := migrateTelegraf(t, conf)
	require.Contains(t, warnings, "pod_scrape_scope: done another way")
	require.Contains(t, migrated, `field = "spec.nodeName=${NODE_NAME}"`)
	normalize := func(m telegraf.Metric) telegraf.Metric {
		m.SetTime(time.Unix(0, 0))
		return prometheusNames(m)
	}
	theirs := telegrafPoints(t, conf, normalize, func(ms []telegraf.Metric) bool { return len(ms) > 0 })
	ours := withoutSynthetic(telegrafTest(t, migrated, nil))
	for i := range ours {
		ours[i] = normalize(ours[i])
	}
	testutil.RequireMetricsEqual(t, theirs, ours, testutil.SortMetrics())
	require.Len(t, theirs, 1)
	require.Equal(t, "here", theirs[0].Tags()["pod_name"])
}

// http_service_discovery and http_headers: the targets an HTTP SD endpoint (the protocol, on loopback)
// lists, as host:port and as a URL, scraped by inputs.prometheus and by its migration (an http-discovery
// section, the URL taken apart by relabel rules) with the same headers, give the same points, tagged with
// their group's labels.
func TestTelegrafMigrationHTTPSD(t *testing.T) {
	web := StartHeaderLog(t, clientGolangExporter(t, "127.0.0.1:0"))
	api := StartHeaderLog(t, clientGolangExporter(t, "127.0.0.1:0"))
	sd := StartHTTPSD(t, HTTPSDGroup{Targets: []string{web.Addr}, Labels: map[string]string{"team": "web"}},
		HTTPSDGroup{Targets: []string{"http://" + api.Addr + "/metrics"}, Labels: map[string]string{"team": "api"}})
	conf := fmt.Sprintf(`%s
[[inputs.prometheus]]
  metric_version = 2
  fieldinclude = ["app_temperature"]
  http_headers = {"X-Tenant" = "acme", "Host" = "example.com"}
  [inputs.prometheus.http_service_discovery]
    enabled = true
    url = %q
    query_interval = "1s"
`, migrationAgent, sd.URL+"/targets")
	migrated, warnings := migrateTelegraf(t, conf)
	require.Equal(t, 1, strings.Count(warnings, "\n"), warnings)
	require.Contains(t, warnings, `inputs.prometheus http_headers: no equivalent: "Host" is a header Prometheus' HTTP client reserves`)
	require.Contains(t, migrated, "[[inputs.discovering_prometheus.http-discovery]]")
	normalize := func(m telegraf.Metric) telegraf.Metric {
		m.SetTime(time.Unix(0, 0))
		return m
	}
	theirs := telegrafPoints(t, conf, normalize, func(ms []telegraf.Metric) bool { return len(ms) == 2 })
	telegrafSeen := len(web.Seen())
	ours := withoutSynthetic(telegrafTest(t, migrated, nil))
	for i := range ours {
		ours[i] = normalize(ours[i])
	}
	testutil.RequireMetricsEqual(t, theirs, ours, testutil.SortMetrics())
	require.ElementsMatch(t, []string{"web", "api"}, []string{theirs[0].Tags()["team"], theirs[1].Tags()["team"]})
	require.Greater(t, len(web.Seen()), telegrafSeen, "the migration scraped web")
	for _, front := range []*HeaderLog{web, api} {
		for _, seen := range front.Seen() {
			require.Equal(t, "X-Tenant=acme;X-Key=", seen)
		}
	}
}
