package tests

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/discovering-prometheus/discovering-prometheus/operator"
)

func init() { childModes["oracle-exporter"] = serveOracleExporterChild }

// The oracle of the prometheus_operator table: Prometheus 3 (cmd/prometheus of go.mod) runs the scrape
// configurations that operator.Generator, the port of the operator's generator, writes for the same
// ServiceMonitors and PodMonitors (ServiceMonitorYAML, PodMonitorYAML), on the same real API server, with
// api_server, token and CA added to each kubernetes_sd_config as the operator's apiserverConfig would.
// The plugin follows the monitors themselves. Both must show the same /api/v1/targets (scrape pools,
// labels, discovered labels, health, dropped targets and their counts) and the same samples, allowing
// only the acceptedDifferences of TestPrometheusParity.
//
// The monitors cover matchLabels and matchExpressions (In, NotIn, Exists, DoesNotExist), selectorMechanism
// RoleSelector, namespaceSelector, port by name, targetPort, PodMonitor's port and targetPort, jobLabel,
// targetLabels, podTargetLabels, relabelings, metricRelabelings, params, path, honorLabels, scrapeTimeout,
// sampleLimit and filterRunning; targets are dropped by selector, port and the running filter (a Failed
// pod), and some are down (nothing listens; the sample limit).
func TestOperatorOracle(t *testing.T) {
	k := StartKubeAPIServer(t)
	pods := NewPodNet(t)
	ns, ns2 := k.Namespace(), k.Namespace()

	// Pods serving the oracle exporter on 9100 (metrics) and 9200 (admin); web-1 on metrics only (its
	// admin targets are down), web-2 failed.
	pod := func(namespace, name string, podLabels map[string]string, listen ...string) *corev1.Pod {
		ip := pods.IP(t)
		var addrs []string
		for _, port := range listen {
			addrs = append(addrs, net.JoinHostPort(ip, port))
		}
		if len(addrs) > 0 {
			StartChild(t, pods.NetNS, "oracle-exporter", "DP_ORACLE_EXPORTER="+name, "DP_ORACLE_ADDRS="+strings.Join(addrs, ","))
		}
		return oraclePod(namespace, name, ip, podLabels)
	}
	web0 := pod(ns, "web-0", map[string]string{"app": "web", "tier": "front", "team": "core"}, "9100", "9200")
	web1 := pod(ns, "web-1", map[string]string{"app": "web", "tier": "front"}, "9100")
	web2 := pod(ns, "web-2", map[string]string{"app": "web", "tier": "front"})
	web2.Status.Phase = corev1.PodFailed
	api0 := pod(ns, "api-0", map[string]string{"app": "api", "tier": "back"}, "9100", "9200")
	db0 := pod(ns2, "db-0", map[string]string{"app": "db"}, "9100")
	service := func(namespace, name string, serviceLabels map[string]string) *corev1.Service {
		svc := kubernetesService(namespace, name, serviceLabels["app"])
		for k, v := range serviceLabels {
			svc.Labels[k] = v
		}
		return svc
	}
	web := service(ns, "web", map[string]string{"app": "web", "team": "core", "scrape-job": "frontend"})
	api := service(ns, "api", map[string]string{"app": "api", "env": "prod"})
	legacy := service(ns, "legacy", map[string]string{"app": "api", "env": "staging"})
	db := service(ns2, "db", map[string]string{"app": "db"})
	k.Apply(web0, web1, web2, api0, db0, web, api, legacy, db,
		oracleSlice(web, web0, web1), oracleSlice(api, api0), oracleSlice(legacy, api0), oracleSlice(db, db0))

	var sms []*monitoringv1.ServiceMonitor
	var pms []*monitoringv1.PodMonitor
	for _, manifest := range []string{`
metadata: {name: web, annotations: {discovering-prometheus.io/db: sm_web}}
spec:
  selector:
    matchLabels: {app: web}
    matchExpressions: [{key: team, operator: Exists}]
  jobLabel: scrape-job
  targetLabels: [team, absent]
  podTargetLabels: [tier]
  endpoints:
  - port: metrics
    interval: 1s
    relabelings:
    - {sourceLabels: [__meta_kubernetes_pod_label_tier, __meta_kubernetes_pod_name], separator: '-', targetLabel: where}
    - {sourceLabels: [__meta_kubernetes_pod_name], regex: web-1, action: drop}
    metricRelabelings:
    - {sourceLabels: [__name__], regex: 'oracle_drop_me.*', action: drop}
    - {sourceLabels: [code], targetLabel: status_code}
  - port: admin
    interval: 1s
    path: /admin
    params: {format: [x]}
    honorLabels: true`, `
metadata: {name: expr}
spec:
  namespaceSelector: {matchNames: [` + ns + `, ` + ns2 + `]}
  selector:
    matchExpressions:
    - {key: app, operator: In, values: [api, db, web]}
    - {key: team, operator: DoesNotExist}
    - {key: env, operator: NotIn, values: [staging]}
  keepDroppedTargets: 3
  endpoints:
  - targetPort: 9100
    interval: 1s
    relabelings: [{action: labeldrop, regex: container}]
    metricRelabelings: [{action: labelmap, regex: 'co(de)', replacement: 'co_$1'}]`, `
metadata: {name: limited, annotations: {discovering-prometheus.io/db: limited}}
spec:
  namespaceSelector: {matchNames: [` + ns2 + `]}
  selectorMechanism: RoleSelector
  selector: {matchLabels: {app: db}}
  sampleLimit: 3
  endpoints: [{port: metrics, interval: 1s, scrapeTimeout: 500ms}]`} {
		sm := &monitoringv1.ServiceMonitor{}
		createMonitor(t, k, operator.ServiceMonitors, "ServiceMonitor", ns, manifest, sm)
		sms = append(sms, sm)
	}
	pm := &monitoringv1.PodMonitor{}
	createMonitor(t, k, operator.PodMonitors, "PodMonitor", ns, `
metadata: {name: pods, annotations: {discovering-prometheus.io/db: pods}}
spec:
  selector: {matchLabels: {tier: front}}
  jobLabel: app
  podTargetLabels: [team, tier]
  podMetricsEndpoints:
  - port: metrics
    interval: 1s
    relabelings: [{sourceLabels: [__meta_kubernetes_pod_ready], targetLabel: ready}]
    metricRelabelings: [{sourceLabels: [__name__], regex: 'oracle_latency.*', action: drop}]
  - targetPort: 9200
    interval: 1s
    filterRunning: false
    path: /admin
    params: {module: [a, b]}`, pm)
	capped := &monitoringv1.PodMonitor{}
	createMonitor(t, k, operator.PodMonitors, "PodMonitor", ns, `
metadata: {name: capped, annotations: {discovering-prometheus.io/db: capped}}
spec:
  selector: {matchLabels: {tier: front}}
  targetLimit: 1
  podMetricsEndpoints: [{port: metrics, interval: 1s}]`, capped)
	pms = append(pms, pm, capped)

	// The oracle's prometheus.yml: the generator's jobs, reaching the API server.
	promYML := filepath.Join(t.TempDir(), "prometheus.yml")
	oraclePrometheusYML(t, k, promYML, sms, pms)
	oracle := startPrometheus(t, PrometheusOfGoMod(t), promYML, "--web.enable-lifecycle")

	r := StartPlugin(t, operatorPluginTOML(k, ns))
	statusBase := strings.TrimSuffix(r.Plugin.StatusURL(), "/targets")

	pods0, pods1, cappedPool, expr, limited, web0Pool, web1Pool := "podMonitor/"+ns+"/pods/0", "podMonitor/"+ns+"/pods/1", "podMonitor/"+ns+"/capped/0",
		"serviceMonitor/"+ns+"/expr/0", "serviceMonitor/"+ns+"/limited/0", "serviceMonitor/"+ns+"/web/0", "serviceMonitor/"+ns+"/web/1"
	// alike waits until both have settled (the targets wanted, or else the same state for 8 s), requires
	// them alike and the targets (pool, address, health) those wanted, and returns them.
	alike := func(want []string) (prom, ours targetSet) {
		t.Helper()
		var previous string
		stable := 0
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(time.Second) {
			_ = r.Gather()
			// Fresh each time: JSON decoded into a used targetSet would merge into its maps.
			prom, ours = oracleTargets(t, oracle.url), oracleTargets(t, statusBase)
			now := fmt.Sprint(prom.active(ours, false), ours.active(ours, false), prom.oracleDropped(expr), ours.oracleDropped(expr))
			if now == previous {
				stable++
			} else {
				stable = 0
			}
			previous = now
			wanted := slices.Equal(prom.poolAddresses(), want) && slices.Equal(ours.poolAddresses(), want)
			if (wanted && stable > 0) || stable >= 8 {
				break
			}
			require.False(t, time.Now().After(deadline), "not settled after 60 s; the plugin's log:\n%s\nwanted: %v\nPrometheus' targets: %v\nours: %v",
				logText(r.Log), want, prom.poolAddresses(), ours.poolAddresses())
		}
		require.Equal(t, prom.active(ours, false), ours.active(ours, false), "active targets: Prometheus', then ours")
		require.Equal(t, prom.oracleDropped(expr), ours.oracleDropped(expr), "dropped targets: Prometheus', then ours")
		require.Equal(t, prom.DroppedCounts, ours.DroppedCounts, "dropped target counts: Prometheus', then ours")
		require.Equal(t, want, ours.poolAddresses(), "the targets")
		for _, pool := range slices.Sorted(maps.Keys(ours.DroppedCounts)) {
			require.NotZero(t, ours.DroppedCounts[pool], "no target dropped in %s", pool)
		}
		t.Logf("%d active targets alike, %d dropped alike: %v", len(ours.Active), len(ours.Dropped), ours.DroppedCounts)
		return prom, ours
	}
	target := func(pool string, p *corev1.Pod, port int, health string) string {
		return pool + " " + net.JoinHostPort(p.Status.PodIP, strconv.Itoa(port)) + " " + health
	}
	// The objects do what they are meant to: the expected targets, each labelled as the operator does.
	promTargets, ourTargets := alike([]string{
		target(cappedPool, web0, 9100, "down"), target(cappedPool, web1, 9100, "down"),
		target(pods0, web0, 9100, "up"), target(pods0, web1, 9100, "up"),
		target(pods1, web0, 9200, "up"), target(pods1, web1, 9200, "down"), target(pods1, web2, 9200, "down"),
		target(expr, api0, 9100, "up"), target(expr, db0, 9100, "up"),
		target(limited, db0, 9100, "down"),
		target(web0Pool, web0, 9100, "up"),
		target(web1Pool, web0, 9200, "up"), target(web1Pool, web1, 9200, "down"),
	})
	for _, a := range ourTargets.Active {
		if a.ScrapePool == web0Pool {
			require.Equal(t, map[string]string{"instance": web0.Status.PodIP + ":9100", "job": "frontend", "namespace": ns, "service": "web",
				"pod": "web-0", "container": "app", "endpoint": "metrics", "team": "core", "tier": "front", "where": "front-web-0"}, a.Labels)
		}
	}

	// The samples: Prometheus' last of each series, and one gather of ours that scraped every target, the
	// job (which the kapacitor format does not write) restored from the target of its db and instance.
	waitForPrometheus(t, oracle, len(promTargets.Active))
	promSamples := oracle.samples(t)
	jobs := map[string]string{}
	for _, a := range r.Plugin.Targets().Active {
		jobs[a.DB+" "+a.Labels["instance"]] = a.Labels["job"]
	}
	// A gather a second after the last scrapes every target (the settling gathered every second).
	time.Sleep(1100 * time.Millisecond)
	gathered := samplesOf(t, r.Gather(), func(tags map[string]string) string { return jobs[tags["db"]+" "+tags["instance"]] })
	compareSeries(t, promSamples, gathered)
	// The monitors' relabelings of the samples did their work, in both.
	names := fmt.Sprint(slices.Sorted(maps.Keys(gathered)))
	for _, want := range []string{`status_code="200"`, `co_de="200"`, `exported_container="exposed"`, `container="exposed"`,
		`query="format=x"`, `query="module=a&module=b"`, `path="/admin"`, `__name__="oracle_latency_seconds_bucket"`} {
		require.Contains(t, names, want)
	}
	for _, s := range gathered {
		name, job, endpoint := s.labels["__name__"], s.labels["job"], s.labels["endpoint"]
		require.False(t, name == "oracle_drop_me_total" && job == "frontend" && endpoint == "metrics", "web/0's metricRelabelings drop %s", name)
		require.False(t, strings.HasPrefix(name, "oracle_latency") && job == "web" && endpoint == "metrics", "pods/0's metricRelabelings drop %s", name)
	}

	// The objects change: web-1 joins team core, the api service becomes staging (its slice too, as the
	// controller does), the failed pod goes. Both follow alike; capped's web-1 target stays (its labels take
	// none of the pod's) and shows the pod's new labels among its discovered ones, as Prometheus' does.
	web1.Labels["team"] = "core"
	api.Labels["env"] = "staging"
	k.Apply(web1, api, oracleSlice(api, api0))
	k.Delete(web2)
	_, ourTargets = alike([]string{
		target(cappedPool, web0, 9100, "down"), target(cappedPool, web1, 9100, "down"),
		target(pods0, web0, 9100, "up"), target(pods0, web1, 9100, "up"),
		target(pods1, web0, 9200, "up"), target(pods1, web1, 9200, "down"),
		target(expr, db0, 9100, "up"),
		target(limited, db0, 9100, "down"),
		target(web0Pool, web0, 9100, "up"),
		target(web1Pool, web0, 9200, "up"), target(web1Pool, web1, 9200, "down"),
	})
	for _, a := range ourTargets.Active {
		if a.ScrapePool == pods0 {
			require.Equal(t, "core", a.Labels["team"], "%s %s", a.ScrapePool, a.ScrapeURL)
		}
	}

	// The monitors change: web's first endpoint drops web-0 instead of web-1, the PodMonitor goes.
	// Prometheus reloads the generator's jobs for them; the plugin follows the monitors.
	ctx := context.Background()
	patched, err := k.Dynamic.Resource(operator.ServiceMonitors).Namespace(ns).Patch(ctx, "web", types.JSONPatchType,
		[]byte(`[{"op": "replace", "path": "/spec/endpoints/0/relabelings/1/regex", "value": "web-0"}]`), metav1.PatchOptions{})
	require.NoError(t, err)
	sms[0] = &monitoringv1.ServiceMonitor{}
	require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(patched.Object, sms[0]))
	require.NoError(t, k.Dynamic.Resource(operator.PodMonitors).Namespace(ns).Delete(ctx, "pods", metav1.DeleteOptions{}))
	oraclePrometheusYML(t, k, promYML, sms, pms[1:])
	resp, err := http.Post(oracle.url+"/-/reload", "", nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "Prometheus' reload")
	alike([]string{
		target(cappedPool, web0, 9100, "down"), target(cappedPool, web1, 9100, "down"),
		target(expr, db0, 9100, "up"),
		target(limited, db0, 9100, "down"),
		target(web0Pool, web1, 9100, "up"),
		target(web1Pool, web0, 9200, "up"), target(web1Pool, web1, 9200, "down"),
	})
}

// createMonitor creates an object of the operator's kind (createOperatorObject) and reads it as the API
// server stored it into stored.
func createMonitor(t *testing.T, k *KubeCluster, gvr schema.GroupVersionResource, kind, namespace, manifest string, stored any) {
	t.Helper()
	created := createOperatorObject(t, k, gvr, kind, namespace, manifest)
	require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(created.Object, stored))
}

// oraclePod is a pod of one container, app, with ports metrics (9100) and admin (9200), on ip.
func oraclePod(namespace, name, ip string, podLabels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: podLabels},
		Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{
			Name: "app", Image: "oracle-exporter",
			Ports: []corev1.ContainerPort{{Name: "metrics", ContainerPort: 9100, Protocol: corev1.ProtocolTCP},
				{Name: "admin", ContainerPort: 9200, Protocol: corev1.ProtocolTCP}},
		}}},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: ip, HostIP: ip,
			Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", ContainerID: "containerd://" + name}},
		},
	}
}

// oracleSlice is the EndpointSlice of a service whose ready endpoints are the pods, on the ports
// metrics and admin, labelled as the EndpointSlice controller does: the service's labels and its name.
func oracleSlice(svc *corev1.Service, pods ...*corev1.Pod) *discoveryv1.EndpointSlice {
	sliceLabels := maps.Clone(svc.Labels)
	sliceLabels[discoveryv1.LabelServiceName] = svc.Name
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: svc.Namespace, Name: svc.Name + "-1", Labels: sliceLabels},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports: []discoveryv1.EndpointPort{{Name: ptr.To("metrics"), Port: ptr.To(int32(9100)), Protocol: ptr.To(corev1.ProtocolTCP)},
			{Name: ptr.To("admin"), Port: ptr.To(int32(9200)), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	for _, p := range pods {
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{Addresses: []string{p.Status.PodIP},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name}})
	}
	return slice
}

// oraclePrometheusYML writes the prometheus.yml of the monitors' jobs as the generator writes them, each
// kubernetes_sd_config given the API server's URL, token and CA.
func oraclePrometheusYML(t *testing.T, k *KubeCluster, path string, sms []*monitoringv1.ServiceMonitor, pms []*monitoringv1.PodMonitor) {
	t.Helper()
	g := &operator.Generator{}
	var texts [][]byte
	for _, sm := range sms {
		text, err := g.ServiceMonitorYAML(sm)
		require.NoError(t, err)
		texts = append(texts, text)
	}
	for _, pm := range pms {
		text, err := g.PodMonitorYAML(pm)
		require.NoError(t, err)
		texts = append(texts, text)
	}
	var jobs []map[string]any
	for _, text := range texts {
		var more []map[string]any
		require.NoError(t, yaml.Unmarshal(text, &more), "%s", text)
		jobs = append(jobs, more...)
	}
	for _, job := range jobs {
		for _, sd := range job["kubernetes_sd_configs"].([]any) {
			sd := sd.(map[string]any)
			sd["api_server"] = k.URL
			sd["authorization"] = map[string]any{"credentials": k.Token}
			sd["tls_config"] = map[string]any{"ca_file": k.CAFile}
		}
	}
	out, err := yaml.Marshal(map[string]any{"global": map[string]any{"scrape_interval": "1s"}, "scrape_configs": jobs})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, out, 0o600))
	t.Logf("the oracle's prometheus.yml:\n%s", out)
}

// operatorPluginTOML is the plugin with its status page and a prometheus_operator table watching the
// monitors of one namespace of an API server, db k8s by default.
func operatorPluginTOML(api kubernetesAPI, namespace string) string {
	return fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  status_address = "127.0.0.1:0"
  [inputs.discovering_prometheus.prometheus_operator]
%s    namespaces = [%q]
    db = "k8s"
`, kubernetesServer(api), namespace)
}

// oracleTargets reads the /api/v1/targets of a server, Prometheus or the plugin's status server.
func oracleTargets(t *testing.T, base string) targetSet {
	t.Helper()
	p := &promServer{url: base}
	var ts targetSet
	p.api(t, "/api/v1/targets", nil, &ts)
	return ts
}

// oracleDropped lists the dropped targets with their pools, sorted; of the pools counted, only how many
// are listed (which of them a keep_dropped_targets keeps depends on the order the groups come in).
func (ts targetSet) oracleDropped(counted ...string) []string {
	var out []string
	listed := map[string]int{}
	for _, d := range ts.Dropped {
		if slices.Contains(counted, d.ScrapePool) {
			listed[d.ScrapePool]++
			continue
		}
		out = append(out, d.ScrapePool+" "+labels.FromMap(d.DiscoveredLabels).String())
	}
	for _, pool := range counted {
		out = append(out, fmt.Sprintf("%s: %d listed", pool, listed[pool]))
	}
	slices.Sort(out)
	return out
}

// poolAddresses lists the active targets as "pool address health", sorted.
func (ts targetSet) poolAddresses() []string {
	var out []string
	for _, a := range ts.Active {
		out = append(out, a.ScrapePool+" "+a.Labels["instance"]+" "+a.Health)
	}
	slices.Sort(out)
	return out
}

// serveOracleExporterChild serves a fixed exposition on /metrics and /admin of each of the addresses
// DP_ORACLE_ADDRS lists, naming the exporter, the port, the path and the query it answers, and exposing
// labels that collide with the target's (namespace, container).
func serveOracleExporterChild() {
	name := os.Getenv("DP_ORACLE_EXPORTER")
	for _, a := range strings.Split(os.Getenv("DP_ORACLE_ADDRS"), ",") {
		l, err := net.Listen("tcp", a)
		if err != nil {
			fmt.Fprintln(os.Stderr, "oracle exporter:", err)
			os.Exit(1)
		}
		_, port, _ := net.SplitHostPort(a)
		server := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/metrics" && r.URL.Path != "/admin" {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			fmt.Fprintf(w, oracleExposition, name, port, r.URL.Path, r.URL.RawQuery)
		})}
		go func() { _ = server.Serve(l) }()
	}
	fmt.Println("ready")
	select {}
}

const oracleExposition = `# HELP oracle_info Which exporter, port, path and query answered.
# TYPE oracle_info gauge
oracle_info{exporter=%q,port=%q,path=%q,query=%q} 1
# TYPE oracle_collide gauge
oracle_collide{namespace="exposed",container="exposed"} 2
# TYPE oracle_requests_total counter
oracle_requests_total{code="200"} 7
oracle_requests_total{code="500"} 1
# TYPE oracle_latency_seconds histogram
oracle_latency_seconds_bucket{le="0.1"} 1
oracle_latency_seconds_bucket{le="1"} 3
oracle_latency_seconds_bucket{le="+Inf"} 4
oracle_latency_seconds_sum 2.5
oracle_latency_seconds_count 4
# TYPE oracle_drop_me_total counter
oracle_drop_me_total 5
`
