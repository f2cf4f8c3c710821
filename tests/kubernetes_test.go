package tests

import (
	"fmt"
	"net"
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
	"github.com/prometheus/prometheus/util/strutil"
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

// The roles run on a real kube-apiserver (kubeapiserver_test.go); the fake (kubernetes_fake_test.go) plays
// only what a real one will not do on demand: small pages and a watch ended with 410 Gone, an outage and
// the recovery from it, and the shape of the requests (selectors sent to the server, the list-then-watch
// fallback of a server without the streaming list), which a real server does not show.
func testKubernetes(t *testing.T) {
	t.Run("pod", testKubernetesPod)
	t.Run("service", testKubernetesService)
	t.Run("endpoints", testKubernetesEndpoints)
	t.Run("endpointslice", testKubernetesEndpointSlice)
	t.Run("node", testKubernetesNode)
	t.Run("ingress", testKubernetesIngress)
	t.Run("fake/paged list and expired watch", testKubernetesRelist)
	t.Run("fake/outage", testKubernetesOutage)
	t.Run("fake/requests", testKubernetesRequests)
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

// kubernetesAPI is an API server a test reaches: the real one or the fake.
type kubernetesAPI interface{ access() kubernetesAccess }

// kubernetesServer holds the keys that reach an API server as a user does, with Kapacitor's names for the
// token and the CA.
func kubernetesServer(api kubernetesAPI) string {
	a := api.access()
	return fmt.Sprintf("    api-servers = [%q]\n    token = %q\n    ca-path = %q\n", a.URL, a.Token, a.CAFile)
}

// kubernetesServerTokenFile reaches an API server with Prometheus' keys: the token read from a file, ssl-ca.
func kubernetesServerTokenFile(t *testing.T, api kubernetesAPI) string {
	a := api.access()
	file := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(file, []byte(a.Token+"\n"), 0o600))
	return fmt.Sprintf("    api-servers = [%q]\n    bearer-token-file = %q\n    ssl-ca = %q\n", a.URL, file, a.CAFile)
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

// kubeMeta is what Prometheus makes of an object's labels or annotations: prefix_name and
// prefixpresent_name (prefix being e.g. __meta_kubernetes_pod_label).
func kubeMeta(prefix string, m map[string]string) model.LabelSet {
	ls := model.LabelSet{}
	for k, v := range m {
		name := strutil.SanitizeLabelName(k)
		ls[model.LabelName(prefix+"_"+name)] = model.LabelValue(v)
		ls[model.LabelName(prefix+"present_"+name)] = "true"
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

// kubernetesPod is a running pod on node-1 whose one container serves the exporter's port on the pod IP,
// the exporter's: loopback on the fake, an address of a PodNet on a real API server.
func kubernetesPod(namespace, name string, e *Exporter, podLabels map[string]string) *corev1.Pod {
	host, portText, _ := net.SplitHostPort(e.Addr)
	port, _ := strconv.Atoi(portText)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, UID: types.UID("uid-" + name), Labels: podLabels},
		Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{
			Name: "app", Image: "exporter:" + name,
			Ports: []corev1.ContainerPort{{Name: "metrics", ContainerPort: int32(port), Protocol: corev1.ProtocolTCP}},
		}}},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: host, HostIP: host,
			Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", ContainerID: "containerd://" + name}},
		},
	}
}

// kubernetesPodLabels are the labels every role that resolves a pod gives it: those of a kubernetesPod as
// the API server stored it.
func kubernetesPodLabels(p *corev1.Pod) model.LabelSet {
	return kubeMerge(kubeMeta("__meta_kubernetes_pod_label", p.Labels), kubeLabels(
		"__meta_kubernetes_pod_name", p.Name, "__meta_kubernetes_pod_uid", string(p.UID),
		"__meta_kubernetes_pod_ip", p.Status.PodIP, "__meta_kubernetes_pod_host_ip", p.Status.HostIP,
		"__meta_kubernetes_pod_ready", "true", "__meta_kubernetes_pod_phase", "Running",
		"__meta_kubernetes_pod_node_name", p.Spec.NodeName,
	))
}

// kubernetesContainerLabels are the labels of a kubernetesPod's container.
func kubernetesContainerLabels(name string, e *Exporter) model.LabelSet {
	return kubeLabels(
		"__meta_kubernetes_pod_container_name", "app", "__meta_kubernetes_pod_container_image", "exporter:"+name,
		"__meta_kubernetes_pod_container_port_name", "metrics", "__meta_kubernetes_pod_container_port_number", e.Port(),
		"__meta_kubernetes_pod_container_port_protocol", "TCP", "__meta_kubernetes_pod_container_init", "false",
	)
}

// kubernetesNode is a ready node at the exporter's address, whose kubelet port is the exporter's.
func kubernetesNode(name string, e *Exporter, nodeLabels map[string]string) *corev1.Node {
	host, portText, _ := net.SplitHostPort(e.Addr)
	port, _ := strconv.Atoi(portText)
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: nodeLabels},
		Spec:       corev1.NodeSpec{ProviderID: "fake://" + name},
		Status: corev1.NodeStatus{
			Conditions:      []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
			Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: host}, {Type: corev1.NodeHostName, Address: name}},
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

// kubernetesPodGroup is the group of the pod role for a kubernetesPod serving e, with more group labels.
func kubernetesPodGroup(p *corev1.Pod, e *Exporter, more model.LabelSet) *targetgroup.Group {
	return &targetgroup.Group{
		Source: "pod/" + p.Namespace + "/" + p.Name,
		Labels: kubeMerge(kubernetesPodLabels(p), more, kubeLabels("__meta_kubernetes_namespace", p.Namespace)),
		Targets: []model.LabelSet{kubeMerge(kubernetesContainerLabels(p.Name, e), kubeLabels(
			"__address__", e.Addr, "__meta_kubernetes_pod_container_id", "containerd://"+p.Name))},
	}
}

// Pods through the plugin, configured with Kapacitor's keys (resource, namespace) and Prometheus' selectors
// and attach-metadata: discovered, scraped, followed through watch events (created, deleted, relabelled).
func testKubernetesPod(t *testing.T) {
	k := StartKubeAPIServer(t)
	pods := NewPodNet(t)
	ns, other := k.Namespace(), k.Namespace()
	a, b, c := pods.Exporter(t, "a"), pods.Exporter(t, "b"), pods.Exporter(t, "c")
	x := pods.Exporter(t, "excluded")
	node := k.Unique("node") // nodes are cluster-wide: a name of this test's own
	pod := func(namespace, name string, e *Exporter, app string) *corev1.Pod {
		p := kubernetesPod(namespace, name, e, map[string]string{"app": app})
		p.Spec.NodeName = node
		return p
	}
	webA, webB := pod(ns, "web-a", a, "web"), pod(ns, "web-b", b, "web")
	k.Apply(kubernetesNode(node, x, map[string]string{"zone": "z1"}), webA, webB,
		pod(ns, "batch", x, "batch"),  // not selected
		pod(other, "web-x", x, "web"), // another namespace
	)
	toml := kubernetesConfig(kubernetesServer(k) + fmt.Sprintf(`    resource = "pod"
    namespace = %q
    [[inputs.discovering_prometheus.kubernetes.selectors]]
      role = "pod"
      label = "app=web"
    [inputs.discovering_prometheus.kubernetes.attach-metadata]
      node = true
`, ns))
	nodeLabels := kubeLabels("__meta_kubernetes_node_name", node, "__meta_kubernetes_node_label_zone", "z1", "__meta_kubernetes_node_labelpresent_zone", "true")
	sd := startKubernetesSD(t, toml)
	sd.WaitFor(t, kubernetesPodGroup(webA, a, nodeLabels), kubernetesPodGroup(webB, b, nodeLabels))

	r := StartPlugin(t, toml)
	ms := r.GatherUntil(20*time.Second, "web-a and web-b scraped", kubernetesInstances(a.Addr, b.Addr))
	require.Equal(t, map[string]float64{a.Addr: 1, b.Addr: 1}, Up(ms))
	kubernetesExporterInfo(t, ms, map[string]string{a.Addr: "a", b.Addr: "b"})

	// A pod created and one deleted: the watch events reach the next gathers.
	webC := pod(ns, "web-c", c, "web")
	k.Apply(webC)
	k.Delete(webB)
	sd.WaitFor(t, kubernetesPodGroup(webA, a, nodeLabels), kubernetesPodGroup(webC, c, nodeLabels))
	ms = r.GatherUntil(20*time.Second, "web-c added and web-b removed", kubernetesInstances(a.Addr, c.Addr))
	kubernetesExporterInfo(t, ms, map[string]string{a.Addr: "a", c.Addr: "c"})

	// A pod relabelled out of the selection: the watch (with the selector) reports it gone.
	webA.Labels["app"] = "batch"
	k.Apply(webA)
	sd.WaitFor(t, kubernetesPodGroup(webC, c, nodeLabels))
	r.GatherUntil(20*time.Second, "web-a no longer selected", kubernetesInstances(c.Addr))
}

// Nodes through a kubeconfig file and Prometheus' role key, selected by a label (other tests' nodes are
// in the same cluster); the instance is the node's name.
func testKubernetesNode(t *testing.T) {
	k := StartKubeAPIServer(t)
	hosts := NewPodNet(t)
	a, b, c := hosts.Exporter(t, "a"), hosts.Exporter(t, "b"), hosts.Exporter(t, "c")
	id := k.Unique("node")
	nodeLabels := map[string]string{"kubernetes.io/os": "linux", "test": id}
	nodeA, nodeB, nodeC := kubernetesNode(id+"-a", a, nodeLabels), kubernetesNode(id+"-b", b, nodeLabels), kubernetesNode(id+"-c", c, nodeLabels)
	k.Apply(nodeA, nodeB)
	toml := kubernetesConfig(fmt.Sprintf(`    kubeconfig-file = %q
    role = "node"
    [[inputs.discovering_prometheus.kubernetes.selectors]]
      role = "node"
      label = "test=%s"
`, k.WriteKubeconfig(t), id))
	group := func(n *corev1.Node, e *Exporter) *targetgroup.Group {
		host, _, _ := net.SplitHostPort(e.Addr)
		return &targetgroup.Group{
			Source: "node/" + n.Name,
			Labels: kubeMerge(kubeMeta("__meta_kubernetes_node_label", n.Labels), kubeLabels(
				"__meta_kubernetes_node_name", n.Name, "__meta_kubernetes_node_provider_id", "fake://"+n.Name,
				"__meta_kubernetes_node_condition_ready", "true",
			)),
			Targets: []model.LabelSet{kubeLabels(
				"__address__", e.Addr, "instance", n.Name,
				"__meta_kubernetes_node_address_InternalIP", host, "__meta_kubernetes_node_address_Hostname", n.Name,
			)},
		}
	}
	sd := startKubernetesSD(t, toml)
	sd.WaitFor(t, group(nodeA, a), group(nodeB, b))

	r := StartPlugin(t, toml)
	ms := r.GatherUntil(20*time.Second, "both nodes scraped", kubernetesInstances(nodeA.Name, nodeB.Name))
	require.Equal(t, map[string]float64{nodeA.Name: 1, nodeB.Name: 1}, Up(ms))
	kubernetesExporterInfo(t, ms, map[string]string{nodeA.Name: "a", nodeB.Name: "b"})

	k.Apply(nodeC)
	k.Delete(nodeB)
	sd.WaitFor(t, group(nodeA, a), group(nodeC, c))
	r.GatherUntil(20*time.Second, "node-c added and node-b removed", kubernetesInstances(nodeA.Name, nodeC.Name))
}

// kubernetesService is a ClusterIP service of one port, labelled app and annotated for scraping; the API
// server gives it its cluster IP.
func kubernetesService(namespace, name, app string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: map[string]string{"app": app},
			Annotations: map[string]string{"prometheus.io/scrape": "true"}},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP,
			Ports: []corev1.ServicePort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}}},
	}
}

// kubernetesServiceLabels are the labels of a service, which the endpoints roles add too.
func kubernetesServiceLabels(svc *corev1.Service) model.LabelSet {
	return kubeMerge(kubeMeta("__meta_kubernetes_service_label", svc.Labels), kubeMeta("__meta_kubernetes_service_annotation", svc.Annotations),
		kubeLabels("__meta_kubernetes_service_name", svc.Name))
}

// kubernetesServiceGroup is the group of the service role for a service as the API server stored it.
func kubernetesServiceGroup(svc *corev1.Service) *targetgroup.Group {
	g := &targetgroup.Group{
		Source: "svc/" + svc.Namespace + "/" + svc.Name,
		Labels: kubeMerge(kubernetesServiceLabels(svc), kubeLabels("__meta_kubernetes_namespace", svc.Namespace)),
	}
	for _, p := range svc.Spec.Ports {
		target := kubeLabels(
			"__address__", fmt.Sprintf("%s.%s.svc:%d", svc.Name, svc.Namespace, p.Port), "__meta_kubernetes_service_port_name", p.Name,
			"__meta_kubernetes_service_port_number", strconv.Itoa(int(p.Port)), "__meta_kubernetes_service_port_protocol", string(p.Protocol),
			"__meta_kubernetes_service_type", string(svc.Spec.Type),
		)
		if svc.Spec.Type == corev1.ServiceTypeExternalName {
			target["__meta_kubernetes_service_external_name"] = model.LabelValue(svc.Spec.ExternalName)
		} else {
			target["__meta_kubernetes_service_cluster_ip"] = model.LabelValue(svc.Spec.ClusterIP)
		}
		g.Targets = append(g.Targets, target)
	}
	return g
}

// Services, with a field selector, followed through a deletion; and refused without the right token.
func testKubernetesService(t *testing.T) {
	k := StartKubeAPIServer(t)
	ns := k.Namespace()
	web, hidden := kubernetesService(ns, "web", "web"), kubernetesService(ns, "hidden", "web")
	external := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com",
			Ports: []corev1.ServicePort{{Name: "pg", Port: 5432, Protocol: corev1.ProtocolTCP}}},
	}
	k.Apply(web, external, hidden)
	keys := fmt.Sprintf(`    role = "service"
    namespaces = [%q]
    [[inputs.discovering_prometheus.kubernetes.selectors]]
      role = "service"
      field = "metadata.name!=hidden"
`, ns)
	sd := startKubernetesSD(t, kubernetesConfig(kubernetesServer(k)+keys))
	sd.WaitFor(t, kubernetesServiceGroup(web), kubernetesServiceGroup(external))
	k.Delete(external)
	sd.WaitFor(t, kubernetesServiceGroup(web))

	// A wrong token: 401, logged once, through the plugin.
	r := StartPlugin(t, kubernetesConfig(strings.Replace(kubernetesServer(k), k.Token, "wrong", 1)+keys))
	unauthorized := func(level byte) int {
		return CountLog(r.Log, level, `discoverer=kubernetes "k8s"`, "kubernetes API request failed", "Unauthorized")
	}
	Eventually(t, 20*time.Second, "client-go retrying", func() bool { return unauthorized('D') >= 1 })
	require.Equal(t, 1, unauthorized('E'), "%v", r.Log.Messages())
}

// Endpoints, with Kapacitor's resource = "endpoint", which Kapacitor never matched to Prometheus' role.
func testKubernetesEndpoints(t *testing.T) {
	k := StartKubeAPIServer(t)
	pods := NewPodNet(t)
	ns := k.Namespace()
	a := pods.Exporter(t, "a")
	host, _, _ := net.SplitHostPort(a.Addr)
	idle := pods.IP(t)
	port, _ := strconv.Atoi(a.Port())
	endpoints := &corev1.Endpoints{ //nolint:staticcheck // what Prometheus' role endpoints watches
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Subsets: []corev1.EndpointSubset{{ //nolint:staticcheck // see above
			Addresses: []corev1.EndpointAddress{{IP: host, NodeName: ptr.To("node-1"),
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "web-a"}}},
			NotReadyAddresses: []corev1.EndpointAddress{{IP: idle}},
			Ports:             []corev1.EndpointPort{{Name: "metrics", Port: int32(port), Protocol: corev1.ProtocolTCP}},
		}},
	}
	svc, webA := kubernetesService(ns, "web", "web"), kubernetesPod(ns, "web-a", a, map[string]string{"app": "web"})
	k.Apply(svc, webA, endpoints)
	sd := startKubernetesSD(t, kubernetesConfig(kubernetesServer(k)+fmt.Sprintf("    resource = \"endpoint\"\n    namespace = %q\n", ns)))
	endpoint := kubeLabels("__meta_kubernetes_endpoint_port_name", "metrics", "__meta_kubernetes_endpoint_port_protocol", "TCP")
	groupLabels := kubeMerge(kubernetesServiceLabels(svc), kubeLabels("__meta_kubernetes_namespace", ns, "__meta_kubernetes_endpoints_name", "web"))
	ready := kubeMerge(endpoint, kubernetesPodLabels(webA), kubernetesContainerLabels("web-a", a), kubeLabels(
		"__address__", a.Addr, "__meta_kubernetes_endpoint_ready", "true", "__meta_kubernetes_endpoint_node_name", "node-1",
		"__meta_kubernetes_endpoint_address_target_kind", "Pod", "__meta_kubernetes_endpoint_address_target_name", "web-a",
	))
	notReady := kubeMerge(endpoint, kubeLabels("__address__", net.JoinHostPort(idle, a.Port()), "__meta_kubernetes_endpoint_ready", "false"))
	sd.WaitFor(t, &targetgroup.Group{Source: "endpoints/" + ns + "/web", Labels: groupLabels, Targets: []model.LabelSet{ready, notReady}})

	// The not-ready address becomes ready.
	endpoints.Subsets[0].Addresses = append(endpoints.Subsets[0].Addresses, endpoints.Subsets[0].NotReadyAddresses...)
	endpoints.Subsets[0].NotReadyAddresses = nil
	k.Apply(endpoints)
	notReady["__meta_kubernetes_endpoint_ready"] = "true"
	sd.WaitFor(t, &targetgroup.Group{Source: "endpoints/" + ns + "/web", Labels: groupLabels, Targets: []model.LabelSet{ready, notReady}})
}

// EndpointSlices of discovery.k8s.io/v1, limited to one namespace through namespaces, with Prometheus'
// names for the token and the CA.
func testKubernetesEndpointSlice(t *testing.T) {
	k := StartKubeAPIServer(t)
	pods := NewPodNet(t)
	ns, other := k.Namespace(), k.Namespace()
	a := pods.Exporter(t, "a")
	host, _, _ := net.SplitHostPort(a.Addr)
	port, _ := strconv.Atoi(a.Port())
	slice := func(namespace string) *discoveryv1.EndpointSlice {
		return &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Namespace: namespace, Name: "web-x1", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints: []discoveryv1.Endpoint{{
				Addresses: []string{host}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
				NodeName: ptr.To("node-1"), TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: namespace, Name: "web-a"},
			}},
			Ports: []discoveryv1.EndpointPort{{Name: ptr.To("metrics"), Port: ptr.To(int32(port)), Protocol: ptr.To(corev1.ProtocolTCP)}},
		}
	}
	svc, webA, inNS := kubernetesService(ns, "web", "web"), kubernetesPod(ns, "web-a", a, map[string]string{"app": "web"}), slice(ns)
	k.Apply(svc, webA, inNS, slice(other))
	a1 := k.access()
	server := fmt.Sprintf("    api-servers = [%q]\n    bearer-token = %q\n    ssl-ca = %q\n", a1.URL, a1.Token, a1.CAFile)
	sd := startKubernetesSD(t, kubernetesConfig(server+fmt.Sprintf("    role = \"endpointslice\"\n    namespaces = [%q]\n", ns)))
	group := &targetgroup.Group{
		Source: "endpointslice/" + ns + "/web-x1",
		Labels: kubeMerge(kubernetesServiceLabels(svc), kubeMeta("__meta_kubernetes_endpointslice_label", inNS.Labels), kubeLabels(
			"__meta_kubernetes_namespace", ns, "__meta_kubernetes_endpointslice_name", "web-x1",
			"__meta_kubernetes_endpointslice_address_type", "IPv4",
		)),
		Targets: []model.LabelSet{kubeMerge(kubernetesPodLabels(webA), kubernetesContainerLabels("web-a", a), kubeLabels(
			"__address__", a.Addr, "__meta_kubernetes_endpointslice_port_name", "metrics",
			"__meta_kubernetes_endpointslice_port_protocol", "TCP", "__meta_kubernetes_endpointslice_port", a.Port(),
			"__meta_kubernetes_endpointslice_endpoint_conditions_ready", "true",
			"__meta_kubernetes_endpointslice_endpoint_node_name", "node-1",
			"__meta_kubernetes_endpointslice_address_target_kind", "Pod", "__meta_kubernetes_endpointslice_address_target_name", "web-a",
		))},
	}
	sd.WaitFor(t, group)
	k.Delete(inNS)
	sd.WaitFor(t)
}

// Ingresses of networking.k8s.io/v1: one target per host and path, https where TLS covers the host; the
// token read from a file.
func testKubernetesIngress(t *testing.T) {
	k := StartKubeAPIServer(t)
	ns := k.Namespace()
	rule := func(host string, paths ...string) networkingv1.IngressRule {
		var http networkingv1.HTTPIngressRuleValue
		for _, p := range paths {
			http.Paths = append(http.Paths, networkingv1.HTTPIngressPath{Path: p, PathType: ptr.To(networkingv1.PathTypePrefix),
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 8080}}}})
		}
		return networkingv1.IngressRule{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &http}}
	}
	ingress := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web", Labels: map[string]string{"app": "web"}},
		Spec: networkingv1.IngressSpec{
			IngressClassName: ptr.To("nginx"),
			TLS:              []networkingv1.IngressTLS{{Hosts: []string{"web.example.com"}}},
			Rules:            []networkingv1.IngressRule{rule("web.example.com", "/", "/api"), rule("plain.example.com", "/")},
		},
	}
	k.Apply(ingress)
	sd := startKubernetesSD(t, kubernetesConfig(kubernetesServerTokenFile(t, k)+fmt.Sprintf("    role = \"ingress\"\n    namespaces = [%q]\n", ns)))
	target := func(scheme, host, path string) model.LabelSet {
		return kubeLabels("__address__", host, "__meta_kubernetes_ingress_scheme", scheme,
			"__meta_kubernetes_ingress_host", host, "__meta_kubernetes_ingress_path", path)
	}
	groupLabels := kubeMerge(kubeMeta("__meta_kubernetes_ingress_label", ingress.Labels), kubeLabels(
		"__meta_kubernetes_namespace", ns, "__meta_kubernetes_ingress_name", "web", "__meta_kubernetes_ingress_class_name", "nginx"))
	sd.WaitFor(t, &targetgroup.Group{Source: "ingress/" + ns + "/web", Labels: groupLabels, Targets: []model.LabelSet{
		target("https", "web.example.com", "/"), target("https", "web.example.com", "/api"), target("http", "plain.example.com", "/"),
	}})

	ingress.Spec.Rules = ingress.Spec.Rules[:1]
	k.Apply(ingress)
	sd.WaitFor(t, &targetgroup.Group{Source: "ingress/" + ns + "/web", Labels: groupLabels, Targets: []model.LabelSet{
		target("https", "web.example.com", "/"), target("https", "web.example.com", "/api"),
	}})
}
