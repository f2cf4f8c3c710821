package tests

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/discovering-prometheus/discovering-prometheus/discovery"
)

func init() {
	discovererTests["kubernetes"] = testKubernetes
}

const kubernetesToken = "fake-service-account-token"

func testKubernetes(t *testing.T) {
	t.Run("pod", testKubernetesPod)
	t.Run("service", testKubernetesService)
	t.Run("endpoints", testKubernetesEndpoints)
	t.Run("endpointslice", testKubernetesEndpointSlice)
	t.Run("node", testKubernetesNode)
	t.Run("ingress", testKubernetesIngress)
	t.Run("paged list and expired watch", testKubernetesRelist)
}

// Lists come a page at a time, and a watch ends with 410 Gone: Prometheus' discoverer follows the
// continue tokens, lists again after the 410, and its targets are right afterwards, including a pod the
// expired watch never delivered.
func testKubernetesRelist(t *testing.T) {
	f := startKubernetesFake(t, kubernetesToken)
	f.NoWatchList = true // a list then watches: the streaming list has no pages
	f.PageSize = 2
	e := StartExporter(t, "a")
	group := func(name string) *targetgroup.Group {
		return &targetgroup.Group{
			Source: "pod/default/" + name,
			Labels: kubeMerge(kubernetesPodLabels(name, "web"), kubeLabels("__meta_kubernetes_namespace", "default")),
			Targets: []model.LabelSet{kubeMerge(kubernetesContainerLabels(name, e), kubeLabels(
				"__address__", e.Addr, "__meta_kubernetes_pod_container_id", "containerd://"+name))},
		}
	}
	pod := func(name string) *corev1.Pod {
		return kubernetesPod("default", name, e, map[string]string{"app": "web"})
	}
	f.Apply(pod("web-1"), pod("web-2"), pod("web-3"), pod("web-4"), pod("web-5"))
	sd := startKubernetesSD(t, kubernetesConfig(kubernetesServer(f)+"    role = \"pod\"\n    namespaces = [\"default\"]\n"))
	sd.WaitFor(t, group("web-1"), group("web-2"), group("web-3"), group("web-4"), group("web-5"))
	lists := func() (first, next int) {
		for _, q := range kubernetesQueries(t, f, "/api/v1/namespaces/default/pods") {
			switch {
			case q.Get("watch") != "":
			case q.Get("continue") != "":
				next++
			default:
				first++
			}
		}
		return first, next
	}
	first, next := lists()
	require.Equal(t, 1, first, "%v", f.Requests())
	require.Equal(t, 2, next, "five pods in pages of two: two continue requests; %v", f.Requests())

	// The watch expires, and web-6 with it: only a new list finds it.
	f.ExpireWatch(pod("web-6"))
	sd.WaitFor(t, group("web-1"), group("web-2"), group("web-3"), group("web-4"), group("web-5"), group("web-6"))
	first, next = lists()
	require.GreaterOrEqual(t, first, 2, "no list after the 410; %v", f.Requests())
	require.GreaterOrEqual(t, next, 4, "the second list was not paged through; %v", f.Requests())
	// And it watches again, from the new list: changes still arrive.
	f.Delete(pod("web-1"))
	sd.WaitFor(t, group("web-2"), group("web-3"), group("web-4"), group("web-5"), group("web-6"))
}

// kubernetesConfig is a plugin configuration with one scraper of the [[kubernetes]] section "k8s", whose
// keys are given.
func kubernetesConfig(keys string) string {
	return `
[[inputs.discovering_prometheus]]
  [[inputs.discovering_prometheus.scraper]]
    name = "k8s"
    db = "metrics"
    rp = "week"
    discoverer-service = "kubernetes"
    discoverer-id = "k8s"
    scrape-interval = "1s"
  [[inputs.discovering_prometheus.kubernetes]]
    id = "k8s"
` + keys
}

// kubernetesServer holds the keys that reach the fake as a user reaches an API server, with Kapacitor's
// names for the token and the CA.
func kubernetesServer(f *kubernetesFake) string {
	return fmt.Sprintf("    api-servers = [%q]\n    token = %q\n    ca-path = %q\n", f.URL, f.Token, f.CAFile)
}

// kubernetesServerTokenFile reaches the fake with Prometheus' keys: the token read from a file, ssl-ca.
func kubernetesServerTokenFile(t *testing.T, f *kubernetesFake) string {
	file := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(file, []byte(f.Token+"\n"), 0o600))
	return fmt.Sprintf("    api-servers = [%q]\n    bearer-token-file = %q\n    ssl-ca = %q\n", f.URL, file, f.CAFile)
}

// kubernetesSD runs Prometheus' discoverer from what SDConfig makes of the [[kubernetes]] section of a
// configuration, through the plugin's discovery runner.
type kubernetesSD struct {
	runner *discovery.Manager
	key    discovery.Key
}

func startKubernetesSD(t *testing.T, toml string) *kubernetesSD {
	t.Helper()
	runner, key := RunSD(t, SDConfig(t, toml))
	return &kubernetesSD{runner: runner, key: key}
}

// WaitFor waits until the current groups are exactly the given ones.
func (sd *kubernetesSD) WaitFor(t *testing.T, want ...*targetgroup.Group) {
	t.Helper()
	bySource := map[string]*targetgroup.Group{}
	for _, g := range want {
		bySource[g.Source] = g
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := map[string]*targetgroup.Group{}
		for _, g := range sd.runner.Groups(sd.key) {
			got[g.Source] = g
		}
		if reflect.DeepEqual(got, bySource) {
			return
		}
		if time.Now().After(deadline) {
			require.Equal(t, bySource, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kubeLabels makes a label set of name, value pairs.
func kubeLabels(pairs ...string) model.LabelSet {
	ls := make(model.LabelSet, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		ls[model.LabelName(pairs[i])] = model.LabelValue(pairs[i+1])
	}
	return ls
}

func kubeMerge(sets ...model.LabelSet) model.LabelSet {
	out := model.LabelSet{}
	for _, s := range sets {
		for k, v := range s {
			out[k] = v
		}
	}
	return out
}

// kubernetesPod is a running pod on node-1 whose one container serves the exporter's port on the pod IP
// 127.0.0.1, that is on the exporter.
func kubernetesPod(namespace, name string, e *Exporter, podLabels map[string]string) *corev1.Pod {
	port, _ := strconv.Atoi(e.Port())
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, UID: types.UID("uid-" + name), Labels: podLabels},
		Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{
			Name: "app", Image: "exporter:" + name,
			Ports: []corev1.ContainerPort{{Name: "metrics", ContainerPort: int32(port), Protocol: corev1.ProtocolTCP}},
		}}},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: "127.0.0.1", HostIP: "127.0.0.1",
			Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", ContainerID: "containerd://" + name}},
		},
	}
}

// kubernetesPodLabels are the labels every role that resolves a pod gives it: those of a kubernetesPod
// labelled app.
func kubernetesPodLabels(name, app string) model.LabelSet {
	return kubeLabels(
		"__meta_kubernetes_pod_name", name, "__meta_kubernetes_pod_uid", "uid-"+name,
		"__meta_kubernetes_pod_ip", "127.0.0.1", "__meta_kubernetes_pod_host_ip", "127.0.0.1",
		"__meta_kubernetes_pod_ready", "true", "__meta_kubernetes_pod_phase", "Running",
		"__meta_kubernetes_pod_node_name", "node-1",
		"__meta_kubernetes_pod_label_app", app, "__meta_kubernetes_pod_labelpresent_app", "true",
	)
}

// kubernetesContainerLabels are the labels of a kubernetesPod's container.
func kubernetesContainerLabels(name string, e *Exporter) model.LabelSet {
	return kubeLabels(
		"__meta_kubernetes_pod_container_name", "app", "__meta_kubernetes_pod_container_image", "exporter:"+name,
		"__meta_kubernetes_pod_container_port_name", "metrics", "__meta_kubernetes_pod_container_port_number", e.Port(),
		"__meta_kubernetes_pod_container_port_protocol", "TCP", "__meta_kubernetes_pod_container_init", "false",
	)
}

func kubernetesNode(name string, kubeletPort string, nodeLabels map[string]string) *corev1.Node {
	port, _ := strconv.Atoi(kubeletPort)
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: nodeLabels},
		Spec:       corev1.NodeSpec{ProviderID: "fake://" + name},
		Status: corev1.NodeStatus{
			Conditions:      []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
			Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}, {Type: corev1.NodeHostName, Address: name}},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(port)}},
		},
	}
}

// kubernetesExporterInfo checks that exporter_info arrived once from each instance, from the named exporter,
// with exactly its own labels, the instance, and db/rp tags; no __meta label ever becomes a tag.
func kubernetesExporterInfo(t *testing.T, ms []telegraf.Metric, exporters map[string]string) {
	t.Helper()
	for instance, name := range exporters {
		info := Find(ms, "exporter_info", map[string]string{"instance": instance})
		require.Len(t, info, 1, instance)
		require.Equal(t, map[string]string{
			"__name__": "exporter_info", "instance": instance, "exporter": name, "db": "metrics", "rp": "week",
		}, info[0].Tags())
	}
	for _, m := range ms {
		for k := range m.Tags() {
			require.False(t, strings.HasPrefix(k, "__meta"), "tag %s on %s", k, m.Name())
		}
	}
}

func kubernetesInstances(want ...string) func([]telegraf.Metric) bool {
	return func(ms []telegraf.Metric) bool {
		return strings.Join(Instances(ms, "exporter_info"), ",") == strings.Join(sorted(want...), ",")
	}
}

// Pods through the plugin, configured with Kapacitor's keys (resource, namespace) and Prometheus' selectors
// and attach-metadata: discovered, scraped, followed through watch events, kept while the API fails.
func testKubernetesPod(t *testing.T) {
	f := startKubernetesFake(t, kubernetesToken)
	a, b, c, d := StartExporter(t, "a"), StartExporter(t, "b"), StartExporter(t, "c"), StartExporter(t, "d")
	x := StartExporter(t, "excluded")
	f.Apply(
		kubernetesNode("node-1", "10250", map[string]string{"zone": "z1"}),
		kubernetesPod("default", "web-a", a, map[string]string{"app": "web"}),
		kubernetesPod("default", "web-b", b, map[string]string{"app": "web"}),
		kubernetesPod("default", "batch", x, map[string]string{"app": "batch"}),   // not selected
		kubernetesPod("kube-system", "web-x", x, map[string]string{"app": "web"}), // another namespace
	)
	toml := kubernetesConfig(kubernetesServer(f) + `    resource = "pod"
    namespace = "default"
    [[inputs.discovering_prometheus.kubernetes.selectors]]
      role = "pod"
      label = "app=web"
    [inputs.discovering_prometheus.kubernetes.attach-metadata]
      node = true
`)
	node := kubeLabels("__meta_kubernetes_node_name", "node-1", "__meta_kubernetes_node_label_zone", "z1", "__meta_kubernetes_node_labelpresent_zone", "true")
	group := func(name string, e *Exporter) *targetgroup.Group {
		return &targetgroup.Group{
			Source: "pod/default/" + name,
			Labels: kubeMerge(kubernetesPodLabels(name, "web"), node, kubeLabels("__meta_kubernetes_namespace", "default")),
			Targets: []model.LabelSet{kubeMerge(kubernetesContainerLabels(name, e), kubeLabels(
				"__address__", e.Addr, "__meta_kubernetes_pod_container_id", "containerd://"+name))},
		}
	}
	sd := startKubernetesSD(t, toml)
	sd.WaitFor(t, group("web-a", a), group("web-b", b))
	// The namespace and the selector reached the API server, not only the targets.
	require.Empty(t, kubernetesQueries(t, f, "/api/v1/pods"))
	require.NotEmpty(t, kubernetesQueries(t, f, "/api/v1/namespaces/default/pods"))
	for _, q := range kubernetesQueries(t, f, "/api/v1/namespaces/default/pods") {
		require.Equal(t, "app=web", q.Get("labelSelector"))
	}

	r := StartPlugin(t, toml)
	ms := r.GatherUntil(20*time.Second, "web-a and web-b scraped", kubernetesInstances(a.Addr, b.Addr))
	require.Equal(t, map[string]float64{a.Addr: 1, b.Addr: 1}, Up(ms))
	kubernetesExporterInfo(t, ms, map[string]string{a.Addr: "a", b.Addr: "b"})

	// A pod created and one deleted: the watch events reach the next gathers.
	f.Apply(kubernetesPod("default", "web-c", c, map[string]string{"app": "web"}))
	f.Delete(kubernetesPod("default", "web-b", b, map[string]string{"app": "web"}))
	sd.WaitFor(t, group("web-a", a), group("web-c", c))
	ms = r.GatherUntil(20*time.Second, "web-c added and web-b removed", kubernetesInstances(a.Addr, c.Addr))
	kubernetesExporterInfo(t, ms, map[string]string{a.Addr: "a", c.Addr: "c"})

	// The API server fails: the last known targets are still scraped, and the failure is logged once
	// however often client-go retries (the retries are logged at debug level).
	f.SetFailing(true)
	failed := func(level byte) int {
		return CountLog(r.Log, level, `discoverer=kubernetes "k8s"`, "kubernetes API request failed", "kubernetes fake: failing on purpose")
	}
	Eventually(t, 20*time.Second, "client-go retrying twice", func() bool { return failed('D') >= 2 })
	ms = r.GatherUntil(5*time.Second, "the last known targets scraped", kubernetesInstances(a.Addr, c.Addr))
	require.Equal(t, map[string]float64{a.Addr: 1, c.Addr: 1}, Up(ms))
	require.Equal(t, 1, failed('E'), "%v", r.Log.Messages())

	// It answers again: a pod created meanwhile is found, and the recovery is logged.
	f.SetFailing(false)
	f.Apply(kubernetesPod("default", "web-d", d, map[string]string{"app": "web"}))
	ms = r.GatherUntil(30*time.Second, "web-d found after the recovery", kubernetesInstances(a.Addr, c.Addr, d.Addr))
	kubernetesExporterInfo(t, ms, map[string]string{a.Addr: "a", c.Addr: "c", d.Addr: "d"})
	sd.WaitFor(t, group("web-a", a), group("web-c", c), group("web-d", d))
	require.Equal(t, 1, CountLog(r.Log, 'I', "discoverer recovered", "kubernetes \"k8s\""), "%v", r.Log.Messages())
	require.Equal(t, 1, failed('E'))
}

// kubernetesQueries returns the queries of the requests the fake had for a path.
func kubernetesQueries(t *testing.T, f *kubernetesFake, path string) []url.Values {
	var out []url.Values
	for _, r := range f.Requests() {
		if p, query, _ := strings.Cut(r, "?"); p == path {
			q, err := url.ParseQuery(query)
			require.NoError(t, err)
			out = append(out, q)
		}
	}
	return out
}

// Nodes through a kubeconfig file and Prometheus' role key; the instance is the node's name.
func testKubernetesNode(t *testing.T) {
	f := startKubernetesFake(t, kubernetesToken)
	a, b, c := StartExporter(t, "a"), StartExporter(t, "b"), StartExporter(t, "c")
	f.Apply(
		kubernetesNode("node-a", a.Port(), map[string]string{"kubernetes.io/os": "linux"}),
		kubernetesNode("node-b", b.Port(), map[string]string{"kubernetes.io/os": "linux"}),
	)
	toml := kubernetesConfig(fmt.Sprintf("    kubeconfig-file = %q\n    role = \"node\"\n", f.WriteKubeconfig(t)))
	group := func(name string, e *Exporter) *targetgroup.Group {
		return &targetgroup.Group{
			Source: "node/" + name,
			Labels: kubeLabels(
				"__meta_kubernetes_node_name", name, "__meta_kubernetes_node_provider_id", "fake://"+name,
				"__meta_kubernetes_node_condition_ready", "true",
				"__meta_kubernetes_node_label_kubernetes_io_os", "linux", "__meta_kubernetes_node_labelpresent_kubernetes_io_os", "true",
			),
			Targets: []model.LabelSet{kubeLabels(
				"__address__", e.Addr, "instance", name,
				"__meta_kubernetes_node_address_InternalIP", "127.0.0.1", "__meta_kubernetes_node_address_Hostname", name,
			)},
		}
	}
	sd := startKubernetesSD(t, toml)
	sd.WaitFor(t, group("node-a", a), group("node-b", b))

	r := StartPlugin(t, toml)
	ms := r.GatherUntil(20*time.Second, "both nodes scraped", kubernetesInstances("node-a", "node-b"))
	require.Equal(t, map[string]float64{"node-a": 1, "node-b": 1}, Up(ms))
	kubernetesExporterInfo(t, ms, map[string]string{"node-a": "a", "node-b": "b"})

	f.Apply(kubernetesNode("node-c", c.Port(), map[string]string{"kubernetes.io/os": "linux"}))
	f.Delete(kubernetesNode("node-b", b.Port(), nil))
	sd.WaitFor(t, group("node-a", a), group("node-c", c))
	r.GatherUntil(20*time.Second, "node-c added and node-b removed", kubernetesInstances("node-a", "node-c"))
}

func kubernetesService(name string, app string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Labels: map[string]string{"app": app},
			Annotations: map[string]string{"prometheus.io/scrape": "true"}},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.0.0.10",
			Ports: []corev1.ServicePort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}}},
	}
}

// kubernetesServiceLabels are the labels of a kubernetesService, which the endpoints roles add too.
func kubernetesServiceLabels(name, app string) model.LabelSet {
	return kubeLabels(
		"__meta_kubernetes_service_name", name,
		"__meta_kubernetes_service_label_app", app, "__meta_kubernetes_service_labelpresent_app", "true",
		"__meta_kubernetes_service_annotation_prometheus_io_scrape", "true",
		"__meta_kubernetes_service_annotationpresent_prometheus_io_scrape", "true",
	)
}

// Services, with a field selector, from an API server without the streaming list; and refused without the
// right token.
func testKubernetesService(t *testing.T) {
	f := startKubernetesFake(t, kubernetesToken)
	f.NoWatchList = true
	external := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "db"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com",
			Ports: []corev1.ServicePort{{Name: "pg", Port: 5432, Protocol: corev1.ProtocolTCP}}},
	}
	f.Apply(kubernetesService("web", "web"), external, kubernetesService("hidden", "web"))
	keys := `    role = "service"
    [[inputs.discovering_prometheus.kubernetes.selectors]]
      role = "service"
      field = "metadata.name!=hidden"
`
	sd := startKubernetesSD(t, kubernetesConfig(kubernetesServer(f)+keys))
	web := &targetgroup.Group{
		Source: "svc/default/web",
		Labels: kubeMerge(kubernetesServiceLabels("web", "web"), kubeLabels("__meta_kubernetes_namespace", "default")),
		Targets: []model.LabelSet{kubeLabels(
			"__address__", "web.default.svc:8080", "__meta_kubernetes_service_port_name", "http",
			"__meta_kubernetes_service_port_number", "8080", "__meta_kubernetes_service_port_protocol", "TCP",
			"__meta_kubernetes_service_type", "ClusterIP", "__meta_kubernetes_service_cluster_ip", "10.0.0.10",
		)},
	}
	db := &targetgroup.Group{
		Source: "svc/default/db",
		Labels: kubeLabels("__meta_kubernetes_service_name", "db", "__meta_kubernetes_namespace", "default"),
		Targets: []model.LabelSet{kubeLabels(
			"__address__", "db.default.svc:5432", "__meta_kubernetes_service_port_name", "pg",
			"__meta_kubernetes_service_port_number", "5432", "__meta_kubernetes_service_port_protocol", "TCP",
			"__meta_kubernetes_service_type", "ExternalName", "__meta_kubernetes_service_external_name", "db.example.com",
		)},
	}
	sd.WaitFor(t, web, db)
	f.Delete(external)
	sd.WaitFor(t, web)
	// client-go fell back to a list, then watched from its resourceVersion, each with the field selector.
	var list, watch bool
	for _, q := range kubernetesQueries(t, f, "/api/v1/services") {
		require.Equal(t, "metadata.name!=hidden", q.Get("fieldSelector"))
		list = list || q.Get("watch") == ""
		watch = watch || (q.Get("watch") == "true" && q.Get("resourceVersion") != "" && q.Get("sendInitialEvents") == "")
	}
	require.True(t, list && watch, "%v", f.Requests())

	// A wrong token: 401, logged once, through the plugin.
	r := StartPlugin(t, kubernetesConfig(strings.Replace(kubernetesServer(f), f.Token, "wrong", 1)+keys))
	unauthorized := func(level byte) int {
		return CountLog(r.Log, level, `discoverer=kubernetes "k8s"`, "kubernetes API request failed", "Unauthorized")
	}
	Eventually(t, 20*time.Second, "client-go retrying", func() bool { return unauthorized('D') >= 1 })
	require.Equal(t, 1, unauthorized('E'), "%v", r.Log.Messages())
}

// Endpoints, with Kapacitor's resource = "endpoint", which Kapacitor never matched to Prometheus' role.
func testKubernetesEndpoints(t *testing.T) {
	f := startKubernetesFake(t, kubernetesToken)
	a := StartExporter(t, "a")
	port, _ := strconv.Atoi(a.Port())
	endpoints := &corev1.Endpoints{ //nolint:staticcheck // what Prometheus' role endpoints watches
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Subsets: []corev1.EndpointSubset{{ //nolint:staticcheck // see above
			Addresses: []corev1.EndpointAddress{{IP: "127.0.0.1", NodeName: ptr.To("node-1"),
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web-a"}}},
			NotReadyAddresses: []corev1.EndpointAddress{{IP: "127.0.0.2"}},
			Ports:             []corev1.EndpointPort{{Name: "metrics", Port: int32(port), Protocol: corev1.ProtocolTCP}},
		}},
	}
	f.Apply(kubernetesService("web", "web"), kubernetesPod("default", "web-a", a, map[string]string{"app": "web"}), endpoints)
	sd := startKubernetesSD(t, kubernetesConfig(kubernetesServer(f)+"    resource = \"endpoint\"\n"))
	endpoint := kubeLabels("__meta_kubernetes_endpoint_port_name", "metrics", "__meta_kubernetes_endpoint_port_protocol", "TCP")
	groupLabels := kubeMerge(kubernetesServiceLabels("web", "web"), kubeLabels("__meta_kubernetes_namespace", "default", "__meta_kubernetes_endpoints_name", "web"))
	ready := kubeMerge(endpoint, kubernetesPodLabels("web-a", "web"), kubernetesContainerLabels("web-a", a), kubeLabels(
		"__address__", a.Addr, "__meta_kubernetes_endpoint_ready", "true", "__meta_kubernetes_endpoint_node_name", "node-1",
		"__meta_kubernetes_endpoint_address_target_kind", "Pod", "__meta_kubernetes_endpoint_address_target_name", "web-a",
	))
	notReady := kubeMerge(endpoint, kubeLabels("__address__", "127.0.0.2:"+a.Port(), "__meta_kubernetes_endpoint_ready", "false"))
	sd.WaitFor(t, &targetgroup.Group{Source: "endpoints/default/web", Labels: groupLabels, Targets: []model.LabelSet{ready, notReady}})

	// The not-ready address becomes ready.
	endpoints.Subsets[0].Addresses = append(endpoints.Subsets[0].Addresses, endpoints.Subsets[0].NotReadyAddresses...)
	endpoints.Subsets[0].NotReadyAddresses = nil
	f.Apply(endpoints)
	notReady["__meta_kubernetes_endpoint_ready"] = "true"
	sd.WaitFor(t, &targetgroup.Group{Source: "endpoints/default/web", Labels: groupLabels, Targets: []model.LabelSet{ready, notReady}})
}

// EndpointSlices of discovery.k8s.io/v1, limited to one namespace through namespaces, with Prometheus'
// names for the token and the CA.
func testKubernetesEndpointSlice(t *testing.T) {
	f := startKubernetesFake(t, kubernetesToken)
	a := StartExporter(t, "a")
	port, _ := strconv.Atoi(a.Port())
	slice := func(namespace string) *discoveryv1.EndpointSlice {
		return &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Namespace: namespace, Name: "web-x1", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints: []discoveryv1.Endpoint{{
				Addresses: []string{"127.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
				NodeName: ptr.To("node-1"), TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: namespace, Name: "web-a"},
			}},
			Ports: []discoveryv1.EndpointPort{{Name: ptr.To("metrics"), Port: ptr.To(int32(port)), Protocol: ptr.To(corev1.ProtocolTCP)}},
		}
	}
	f.Apply(kubernetesService("web", "web"), kubernetesPod("default", "web-a", a, map[string]string{"app": "web"}), slice("default"), slice("other"))
	server := fmt.Sprintf("    api-servers = [%q]\n    bearer-token = %q\n    ssl-ca = %q\n", f.URL, f.Token, f.CAFile)
	sd := startKubernetesSD(t, kubernetesConfig(server+"    role = \"endpointslice\"\n    namespaces = [\"default\"]\n"))
	group := &targetgroup.Group{
		Source: "endpointslice/default/web-x1",
		Labels: kubeMerge(kubernetesServiceLabels("web", "web"), kubeLabels(
			"__meta_kubernetes_namespace", "default", "__meta_kubernetes_endpointslice_name", "web-x1",
			"__meta_kubernetes_endpointslice_address_type", "IPv4",
			"__meta_kubernetes_endpointslice_label_kubernetes_io_service_name", "web",
			"__meta_kubernetes_endpointslice_labelpresent_kubernetes_io_service_name", "true",
		)),
		Targets: []model.LabelSet{kubeMerge(kubernetesPodLabels("web-a", "web"), kubernetesContainerLabels("web-a", a), kubeLabels(
			"__address__", a.Addr, "__meta_kubernetes_endpointslice_port_name", "metrics",
			"__meta_kubernetes_endpointslice_port_protocol", "TCP", "__meta_kubernetes_endpointslice_port", a.Port(),
			"__meta_kubernetes_endpointslice_endpoint_conditions_ready", "true",
			"__meta_kubernetes_endpointslice_endpoint_node_name", "node-1",
			"__meta_kubernetes_endpointslice_address_target_kind", "Pod", "__meta_kubernetes_endpointslice_address_target_name", "web-a",
		))},
	}
	sd.WaitFor(t, group)
	f.Delete(slice("default"))
	sd.WaitFor(t)
}

// Ingresses of networking.k8s.io/v1: one target per host and path, https where TLS covers the host; the
// token read from a file.
func testKubernetesIngress(t *testing.T) {
	f := startKubernetesFake(t, kubernetesToken)
	rule := func(host string, paths ...string) networkingv1.IngressRule {
		var http networkingv1.HTTPIngressRuleValue
		for _, p := range paths {
			http.Paths = append(http.Paths, networkingv1.HTTPIngressPath{Path: p, PathType: ptr.To(networkingv1.PathTypePrefix)})
		}
		return networkingv1.IngressRule{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &http}}
	}
	ingress := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web", Labels: map[string]string{"app": "web"}},
		Spec: networkingv1.IngressSpec{
			IngressClassName: ptr.To("nginx"),
			TLS:              []networkingv1.IngressTLS{{Hosts: []string{"web.example.com"}}},
			Rules:            []networkingv1.IngressRule{rule("web.example.com", "/", "/api"), rule("plain.example.com", "/")},
		},
	}
	f.Apply(ingress)
	sd := startKubernetesSD(t, kubernetesConfig(kubernetesServerTokenFile(t, f)+"    role = \"ingress\"\n"))
	target := func(scheme, host, path string) model.LabelSet {
		return kubeLabels("__address__", host, "__meta_kubernetes_ingress_scheme", scheme,
			"__meta_kubernetes_ingress_host", host, "__meta_kubernetes_ingress_path", path)
	}
	groupLabels := kubeLabels("__meta_kubernetes_namespace", "default", "__meta_kubernetes_ingress_name", "web",
		"__meta_kubernetes_ingress_class_name", "nginx",
		"__meta_kubernetes_ingress_label_app", "web", "__meta_kubernetes_ingress_labelpresent_app", "true")
	sd.WaitFor(t, &targetgroup.Group{Source: "ingress/default/web", Labels: groupLabels, Targets: []model.LabelSet{
		target("https", "web.example.com", "/"), target("https", "web.example.com", "/api"), target("http", "plain.example.com", "/"),
	}})

	ingress.Spec.Rules = ingress.Spec.Rules[:1]
	f.Apply(ingress)
	sd.WaitFor(t, &targetgroup.Group{Source: "ingress/default/web", Labels: groupLabels, Targets: []model.LabelSet{
		target("https", "web.example.com", "/"), target("https", "web.example.com", "/api"),
	}})
}
