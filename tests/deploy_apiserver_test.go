package tests

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/discovering-prometheus/discovering-prometheus/operator"
	plugin "github.com/discovering-prometheus/discovering-prometheus/plugins/inputs/discovering_prometheus"
)

// The manifests of deploy/kubernetes on a real API server (run with RBAC authorization):
//   - every object is accepted, applied server-side with strict field validation (a DaemonSet and a
//     StatefulSet too: no controller runs them);
//   - the manifests' service account, by its token, may list and watch what the plugin reads (the
//     monitors, the Secrets and ConfigMaps they name, what their jobs discover), and a service account
//     without the manifests' bindings may not; the narrower binding that rbac.yaml describes (a
//     RoleBinding per namespace for Secrets and ConfigMaps) is enough for the monitors of that namespace;
//   - each pod's Telegraf configuration, with its environment and the service account's token (in place
//     of in-cluster = true), runs on ServiceMonitors (roles endpointslice and endpoints) and a PodMonitor
//     whose targets are on two nodes, and a ScrapeConfig: each DaemonSet's plugin scrapes its node's
//     targets of the monitors alone (node_name), the StatefulSet's every target, and two replicas of the
//     StatefulSet share them, each target scraped once.
func TestKubernetesManifestsOnAPIServer(t *testing.T) {
	k := StartKubeAPIServer(t)
	m := readManifests(t)
	applyManifests(t, k)
	account := k.serviceAccountAccess(t, "monitoring", "discovering-prometheus")

	t.Run("rbac", func(t *testing.T) {
		granted := k.clientOf(t, account)
		ns := k.Namespace()
		_, err := k.Client.CoreV1().ServiceAccounts(ns).Create(context.Background(),
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "unbound"}}, metav1.CreateOptions{})
		require.NoError(t, err)
		refused := k.clientOf(t, k.serviceAccountAccess(t, ns, "unbound"))
		for _, r := range pluginResources {
			require.NoError(t, eventuallyListAndWatch(granted, r, ""), "the manifests' account: %s", r.Resource)
			err := listAndWatch(refused, r, "")
			require.True(t, apierrors.IsForbidden(err), "an account without the manifests' bindings: %s: %v", r.Resource, err)
		}
		k.checkNarrowCredentials(t)
	})

	// Two nodes whose names a regular expression would confuse, a pod of each serving an exporter, and
	// the monitors that select them.
	pods := NewPodNet(t)
	ns := k.Namespace()
	nodeA := k.Unique("node") + ".a"
	nodeB := strings.TrimSuffix(nodeA, ".a") + "-a"
	exporters := map[string]*Exporter{nodeA: pods.Exporter(t, "a"), nodeB: pods.Exporter(t, "b")}
	k.applyNodeTargets(ns, exporters)
	createServiceMonitor(t, k, ns, `
metadata: {name: slices}
spec: {selector: {matchLabels: {app: slices}}, endpoints: [{port: metrics, interval: 1s}]}`)
	createServiceMonitor(t, k, ns, `
metadata: {name: endpoints}
spec: {serviceDiscoveryRole: Endpoints, selector: {matchLabels: {app: endpoints}}, endpoints: [{port: metrics, interval: 1s}]}`)
	createOperatorObject(t, k, operator.PodMonitors, "PodMonitor", ns, `
metadata: {name: pods}
spec: {selector: {matchLabels: {app: exporter}}, podMetricsEndpoints: [{port: metrics, interval: 1s}]}`)
	createOperatorObject(t, k, operator.ScrapeConfigs, "ScrapeConfig", ns, fmt.Sprintf(`
metadata: {name: static}
spec: {scrapeInterval: 1s, staticConfigs: [{targets: [%q]}]}`, exporters[nodeA].Addr))
	// The targets scraped, by pool: a DaemonSet's plugin those of its node, of the monitors alone (a
	// ScrapeConfig's targets are of no node), the StatefulSet's every one.
	nodeLocal, every := map[string][]string{}, map[string][]string{"scrapeConfig/" + ns + "/static": {exporters[nodeA].Addr}}
	both := []string{exporters[nodeA].Addr, exporters[nodeB].Addr}
	slices.Sort(both)
	for _, pool := range []string{"serviceMonitor/" + ns + "/slices/0", "serviceMonitor/" + ns + "/endpoints/0", "podMonitor/" + ns + "/pods/0"} {
		nodeLocal[pool], every[pool] = []string{exporters[nodeA].Addr}, both
	}
	apiServer := strings.TrimSpace(kubernetesServer(account))

	t.Run("node-local", func(t *testing.T) {
		for _, p := range m.pods {
			want := nodeLocal
			if strings.HasPrefix(p.name, "StatefulSet ") {
				want = every // one replica, alone
			}
			for _, pl := range m.plugins(t, p, map[string]string{"NODE_NAME": nodeA, "POD_IP": "10.0.0.7"}, apiServer) {
				startManifestPlugin(t, pl)
				t.Run(p.name, func(t *testing.T) {
					var scraped map[string][]string
					waitUntil(20*time.Second, func() bool {
						var ready bool
						scraped, ready = monitorTargets(t, pl, ns, slices.Collect(maps.Keys(want)))
						return ready && !slices.ContainsFunc(slices.Collect(maps.Keys(want)), func(pool string) bool { return len(scraped[pool]) < len(want[pool]) })
					})
					require.Equal(t, want, scraped, "the targets scraped, by pool")
				})
			}
		}
	})

	t.Run("sharded", func(t *testing.T) {
		i := slices.IndexFunc(m.pods, func(p podOf) bool { return strings.HasPrefix(p.name, "StatefulSet ") })
		require.GreaterOrEqual(t, i, 0)
		replicas := []string{"10.255.0.1", "10.255.0.2"}
		var plugins []*plugin.DiscoveringPrometheus
		for n, ip := range replicas {
			replica := kubernetesPod("monitoring", fmt.Sprintf("discovering-prometheus-sharded-%d", n), &Exporter{Addr: ip + ":9273"},
				m.pods[i].template.Labels)
			replica.Spec.Containers[0].Ports[0].Name = "peer"
			k.Apply(replica)
			t.Cleanup(func() { k.Delete(replica) })
			plugins = append(plugins, m.plugins(t, m.pods[i], map[string]string{"POD_IP": ip}, apiServer)...)
		}
		require.Len(t, plugins, len(replicas))
		for _, pl := range plugins {
			startManifestPlugin(t, pl)
		}
		// Until both replicas know both: the replicas that scrape each target.
		var scrapedBy map[string][]string
		targets := 0
		for _, pool := range every {
			targets += len(pool)
		}
		waitUntil(20*time.Second, func() bool {
			scrapedBy = map[string][]string{}
			for n, pl := range plugins {
				scraped, ready := monitorTargets(t, pl, ns, slices.Collect(maps.Keys(every)))
				if !ready {
					return false
				}
				for pool, targets := range scraped {
					for _, target := range targets {
						scrapedBy[pool+" "+target] = append(scrapedBy[pool+" "+target], replicas[n])
					}
				}
			}
			return len(scrapedBy) == targets && !slices.ContainsFunc(slices.Collect(maps.Values(scrapedBy)),
				func(by []string) bool { return len(by) != 1 })
		})
		require.Len(t, scrapedBy, targets, "every target is scraped: %v", scrapedBy)
		for target, by := range scrapedBy {
			require.Len(t, by, 1, "%s is scraped once", target)
		}
	})
}

// pluginResources are what the plugin lists and watches: the monitors, the Secrets and ConfigMaps they
// name, what their jobs and the kubernetes discoverer discover.
var pluginResources = []schema.GroupVersionResource{
	operator.ServiceMonitors, operator.PodMonitors,
	{Group: "monitoring.coreos.com", Version: "v1alpha1", Resource: "scrapeconfigs"},
	{Version: "v1", Resource: "secrets"}, {Version: "v1", Resource: "configmaps"},
	{Version: "v1", Resource: "pods"}, {Version: "v1", Resource: "services"}, {Version: "v1", Resource: "endpoints"},
	{Version: "v1", Resource: "nodes"}, {Group: "discovery.k8s.io", Version: "v1", Resource: "endpointslices"},
}

// applyManifests applies every object of deploy/kubernetes server-side, as `kubectl apply --server-side`
// does (namespaces first), refusing unknown fields; applying again changes nothing.
func applyManifests(t *testing.T, k *KubeCluster) {
	t.Helper()
	var objects []*unstructured.Unstructured
	for _, file := range manifestFiles(t) {
		for _, doc := range manifestDocuments(t, file) {
			obj := &unstructured.Unstructured{}
			require.NoError(t, yaml.Unmarshal(doc, &obj.Object), file)
			objects = append(objects, obj)
		}
	}
	namespaces := func(o *unstructured.Unstructured) bool { return o.GetKind() == "Namespace" }
	objects = append(slices.DeleteFunc(slices.Clone(objects), func(o *unstructured.Unstructured) bool { return !namespaces(o) }),
		slices.DeleteFunc(objects, namespaces)...)
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(k.Client.Discovery()))
	for _, obj := range objects {
		gvk := obj.GroupVersionKind()
		mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		require.NoError(t, err, gvk.String())
		var resource dynamic.ResourceInterface = k.Dynamic.Resource(mapping.Resource)
		if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
			resource = k.Dynamic.Resource(mapping.Resource).Namespace(obj.GetNamespace())
		}
		data, err := obj.MarshalJSON()
		require.NoError(t, err)
		_, err = resource.Patch(context.Background(), obj.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{
			FieldManager: "dp-test", Force: ptr.To(true), FieldValidation: metav1.FieldValidationStrict,
		})
		require.NoError(t, err, "%s %s", gvk.Kind, obj.GetName())
	}
}

// serviceAccountAccess reaches the API server with a token of a service account (the TokenRequest API,
// as the kubelet gets a pod's).
func (k *KubeCluster) serviceAccountAccess(t *testing.T, namespace, name string) kubernetesAccess {
	t.Helper()
	tr, err := k.Client.CoreV1().ServiceAccounts(namespace).CreateToken(context.Background(), name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(3600))}}, metav1.CreateOptions{})
	require.NoError(t, err)
	return kubernetesAccess{URL: k.URL, CAFile: k.CAFile, Token: tr.Status.Token}
}

// accessClients are the clients of an access.
type accessClients struct {
	kubernetes.Interface
	dynamic dynamic.Interface
}

func (k *KubeCluster) clientOf(t *testing.T, a kubernetesAccess) accessClients {
	t.Helper()
	cfg := &rest.Config{Host: a.URL, BearerToken: a.Token, TLSClientConfig: rest.TLSClientConfig{CAFile: a.CAFile}}
	client, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	dyn, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)
	return accessClients{client, dyn}
}

// eventuallyListAndWatch is listAndWatch once the API server's authorizer, whose informers take a moment
// to see new roles and bindings, allows it (at most 5 s).
func eventuallyListAndWatch(c accessClients, r schema.GroupVersionResource, namespace string) error {
	var err error
	waitUntil(5*time.Second, func() bool {
		err = listAndWatch(c, r, namespace)
		return !apierrors.IsForbidden(err)
	})
	return err
}

// listAndWatch lists a resource (in a namespace, or all) and opens a watch of it.
func listAndWatch(c accessClients, r schema.GroupVersionResource, namespace string) error {
	ctx := context.Background()
	list, err := c.dynamic.Resource(r).Namespace(namespace).List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return err
	}
	w, err := c.dynamic.Resource(r).Namespace(namespace).Watch(ctx, metav1.ListOptions{ResourceVersion: list.GetResourceVersion()})
	if err != nil {
		return err
	}
	w.Stop()
	return nil
}

// checkNarrowCredentials binds an account as rbac.yaml describes for monitors of chosen namespaces: the
// manifests' first ClusterRole cluster-wide, the credentials' ClusterRole by a RoleBinding in one
// namespace. A Watcher of that namespace, with its token, reads the Secret its monitor names; the
// Secrets of another namespace stay out of reach.
func (k *KubeCluster) checkNarrowCredentials(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	ns, other := k.Namespace(), k.Namespace()
	rbac := k.Client.RbacV1()
	_, err := k.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "narrow"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	subjects := []rbacv1.Subject{{Kind: "ServiceAccount", Name: "narrow", Namespace: ns}}
	_, err = rbac.ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: k.Unique("narrow")},
		RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "discovering-prometheus"}, Subjects: subjects}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = rbac.RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "discovering-prometheus-credentials"},
		RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "discovering-prometheus-credentials"}, Subjects: subjects}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = k.Client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "auth"},
		Data: map[string][]byte{"user": []byte("u"), "password": []byte("p")}}, metav1.CreateOptions{})
	require.NoError(t, err)
	createServiceMonitor(t, k, ns, `
metadata: {name: auth}
spec:
  selector: {matchLabels: {app: x}}
  endpoints: [{port: metrics, basicAuth: {username: {name: auth, key: user}, password: {name: auth, key: password}}}]`)

	narrow := k.clientOf(t, k.serviceAccountAccess(t, ns, "narrow"))
	for _, r := range pluginResources[3:5] {
		require.NoError(t, eventuallyListAndWatch(narrow, r, ns), "%s in its namespace", r.Resource)
		require.True(t, apierrors.IsForbidden(listAndWatch(narrow, r, other)), "%s of another namespace", r.Resource)
		require.True(t, apierrors.IsForbidden(listAndWatch(narrow, r, "")), "%s of all namespaces", r.Resource)
	}
	w := runWatcher(t, narrow.Interface, narrow.dynamic, operator.WatchOptions{Namespaces: []string{ns}, DB: "d", RP: "r"})
	jobs, refused := w.Jobs()
	require.Empty(t, refused)
	require.Len(t, jobs, 1)
	require.Equal(t, "serviceMonitor/"+ns+"/auth/0", jobs[0].Config.JobName)
	require.Equal(t, "u", jobs[0].Config.HTTPClientConfig.BasicAuth.Username)

	// Watching a namespace whose Secrets and ConfigMaps it may not list as well (its RoleBinding
	// forgotten): those are not watched, said in the log, and only a monitor there that names one is
	// refused; the monitors of the namespace bound still have their jobs.
	createServiceMonitor(t, k, other, `
metadata: {name: auth}
spec:
  selector: {matchLabels: {app: x}}
  endpoints: [{port: metrics, basicAuth: {username: {name: auth, key: user}, password: {name: auth, key: password}}}]`)
	createServiceMonitor(t, k, other, `
metadata: {name: plain}
spec: {selector: {matchLabels: {app: x}}, endpoints: [{port: metrics}]}`)
	var logs bytes.Buffer
	w = runWatcher(t, narrow.Interface, narrow.dynamic, operator.WatchOptions{Namespaces: []string{ns, other}, DB: "d", RP: "r",
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	jobs, refused = w.Jobs()
	var names []string
	for _, j := range jobs {
		names = append(names, j.Config.JobName)
	}
	require.Equal(t, []string{"serviceMonitor/" + ns + "/auth/0", "serviceMonitor/" + other + "/plain/0"}, names)
	require.Len(t, refused, 1)
	require.Equal(t, "ServiceMonitor "+other+"/auth", refused[0].Monitor)
	require.EqualError(t, refused[0].Err, "serviceMonitor/"+other+"/auth/0: basicAuth.username: secret "+other+"/auth: this instance may not list them in this namespace (its RBAC)")
	for _, resource := range []string{"secrets", "configmaps"} {
		require.Contains(t, logs.String(), "not watched\" resource="+resource+" namespace="+other)
	}
}

// applyNodeTargets makes a pod of each node that serves its exporter, labelled app=exporter, and two
// services of them: one with an EndpointSlice (app=slices), one with an Endpoints (app=endpoints), each
// endpoint naming its node.
func (k *KubeCluster) applyNodeTargets(ns string, exporters map[string]*Exporter) {
	k.t.Helper()
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: "slices-1", Labels: map[string]string{discoveryv1.LabelServiceName: "slices"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("metrics"), Port: ptr.To(int32(9100)), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	endpoints := &corev1.Endpoints{ //nolint:staticcheck // what role endpoints watches
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "endpoints"},
		Subsets: []corev1.EndpointSubset{{ //nolint:staticcheck // as above
			Ports: []corev1.EndpointPort{{Name: "metrics", Port: 9100, Protocol: corev1.ProtocolTCP}}}}, //nolint:staticcheck // as above
	}
	for i, node := range slices.Sorted(maps.Keys(exporters)) {
		e := exporters[node]
		pod := kubernetesPod(ns, fmt.Sprintf("exporter-%d", i), e, map[string]string{"app": "exporter"})
		pod.Spec.NodeName = node
		k.Apply(pod)
		host, _, _ := net.SplitHostPort(e.Addr)
		ref := &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: pod.Name}
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{Addresses: []string{host}, NodeName: ptr.To(node),
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}, TargetRef: ref})
		endpoints.Subsets[0].Addresses = append(endpoints.Subsets[0].Addresses, corev1.EndpointAddress{IP: host, NodeName: ptr.To(node), TargetRef: ref})
	}
	k.Apply(kubernetesService(ns, "slices", "slices"), slice, kubernetesService(ns, "endpoints", "endpoints"), endpoints)
}

// startManifestPlugin starts a plugin of a manifest's configuration until the test ends.
func startManifestPlugin(t *testing.T, p *plugin.DiscoveringPrometheus) {
	t.Helper()
	require.NoError(t, p.Start(&testutil.Accumulator{}))
	t.Cleanup(p.Stop)
}

// monitorTargets gathers once and returns the addresses of the targets of the namespace's monitors that the
// plugin scrapes (all, or those it owns in a cluster), sorted, by pool; ready once it knows targets of
// every pool of need and those it scrapes are up.
func monitorTargets(t *testing.T, p *plugin.DiscoveringPrometheus, namespace string, need []string) (scraped map[string][]string, ready bool) {
	t.Helper()
	require.NoError(t, p.Gather(&testutil.Accumulator{}))
	scraped = map[string][]string{}
	known := map[string]bool{}
	ready = true
	for _, a := range p.Targets().Active {
		if !strings.Contains(a.ScrapePool, "/"+namespace+"/") {
			continue
		}
		known[a.ScrapePool] = true
		if a.Owners == nil || a.ScrapedHere {
			scraped[a.ScrapePool] = append(scraped[a.ScrapePool], a.Labels["instance"])
			ready = ready && a.Health == "up"
		}
	}
	for pool := range scraped {
		slices.Sort(scraped[pool])
	}
	for _, pool := range need {
		ready = ready && known[pool]
	}
	return scraped, ready
}

// waitUntil polls cond every 100 ms until it holds or the timeout passes; the caller asserts the state.
func waitUntil(timeout time.Duration, cond func() bool) {
	for deadline := time.Now().Add(timeout); !cond() && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
}
