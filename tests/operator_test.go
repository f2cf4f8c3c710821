package tests

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/url"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	commonconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/consul"
	"github.com/prometheus/prometheus/discovery/kubernetes"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	clientset "k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/discovering-prometheus/discovering-prometheus/operator"
)

// A ServiceMonitor applied to a real API server through the operator's CRD becomes a job whose kubernetes
// discovery (Prometheus', on the same API server) and relabeling give the targets the operator's
// Prometheus would: the endpoints of the selected services on the monitor's port, labelled namespace,
// service, pod, container, endpoint, the jobLabel's job and the targetLabels; its basicAuth read from a
// Secret through client-go's listers.
func TestOperatorServiceMonitor(t *testing.T) {
	k := StartKubeAPIServer(t)
	pods := NewPodNet(t)
	ns := k.Namespace()
	web, db := pods.Exporter(t, "web"), pods.Exporter(t, "db")
	webPod, dbPod := kubernetesPod(ns, "web-0", web, map[string]string{"app": "web"}), kubernetesPod(ns, "db-0", db, map[string]string{"app": "db"})
	webSvc, dbSvc := kubernetesService(ns, "web", "web"), kubernetesService(ns, "db", "db")
	webSvc.Labels["team"], webSvc.Labels["scraped-as"] = "core", "frontend"
	k.Apply(webPod, dbPod, webSvc, dbSvc, operatorSlice(webSvc, webPod, web), operatorSlice(dbSvc, dbPod, db))
	_, err := k.Client.CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "scrape-auth"},
		Data:       map[string][]byte{"user": []byte("prometheus"), "password": []byte("s3cr3t")},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	sm := createServiceMonitor(t, k, ns, `
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  jobLabel: scraped-as
  targetLabels: [team]
  endpoints:
  - port: metrics
    interval: 5s
    basicAuth:
      username: {name: scrape-auth, key: user}
      password: {name: scrape-auth, key: password}`)

	factory := informers.NewSharedInformerFactoryWithOptions(k.Client, 0, informers.WithNamespace(ns))
	store := operator.ListerStore{Secrets: factory.Core().V1().Secrets().Lister(), ConfigMaps: factory.Core().V1().ConfigMaps().Lister()}
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	factory.Start(stop)
	factory.WaitForCacheSync(stop)

	apiServer, err := url.Parse(k.URL)
	require.NoError(t, err)
	g := &operator.Generator{Store: store, APIServer: &kubernetes.SDConfig{
		APIServer: commonconfig.URL{URL: apiServer},
		HTTPClientConfig: commonconfig.HTTPClientConfig{
			Authorization: &commonconfig.Authorization{Type: "Bearer", Credentials: commonconfig.Secret(k.Token)},
			TLSConfig:     commonconfig.TLSConfig{CAFile: k.CAFile},
		},
	}}
	jobs, err := g.ServiceMonitor(sm)
	require.NoError(t, err)
	require.Len(t, jobs, 1)
	job := jobs[0]
	require.Equal(t, "serviceMonitor/"+ns+"/web/0", job.JobName)
	require.Equal(t, "prometheus", job.HTTPClientConfig.BasicAuth.Username)
	require.Equal(t, "s3cr3t", string(job.HTTPClientConfig.BasicAuth.Password))

	runner, key := RunSD(t, job.ServiceDiscoveryConfigs[0])
	want := []map[string]string{{
		"__address__": web.Addr, "namespace": ns, "service": "web", "pod": "web-0", "container": "app",
		"endpoint": "metrics", "job": "frontend", "team": "core",
	}}
	var got []map[string]string
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		got = nil
		for _, group := range runner.Groups(key) {
			for _, target := range group.Targets {
				b := labels.NewBuilder(labels.FromStrings("job", job.JobName))
				for n, v := range group.Labels {
					b.Set(string(n), string(v))
				}
				for n, v := range target {
					b.Set(string(n), string(v))
				}
				if relabel.ProcessBuilder(b, job.RelabelConfigs...) {
					got = append(got, visibleLabels(b.Labels()))
				}
			}
		}
		if len(got) == len(want) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.Equal(t, want, got)
}

// operatorSlice is the EndpointSlice of a service with one ready endpoint, the pod serving the exporter.
func operatorSlice(svc *corev1.Service, pod *corev1.Pod, e *Exporter) *discoveryv1.EndpointSlice {
	host, port := strings.Split(e.Addr, ":")[0], int32(9100)
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: svc.Namespace, Name: svc.Name + "-1", Labels: map[string]string{discoveryv1.LabelServiceName: svc.Name}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{host}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name}}},
		Ports: []discoveryv1.EndpointPort{{Name: ptr.To("metrics"), Port: ptr.To(port), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
}

// createServiceMonitor creates a ServiceMonitor from its YAML (less apiVersion and kind) through the CRD,
// and returns it as the API server stored it.
func createServiceMonitor(t *testing.T, k *KubeCluster, namespace, manifest string) *monitoringv1.ServiceMonitor {
	t.Helper()
	created := createOperatorObject(t, k, operator.ServiceMonitors, "ServiceMonitor", namespace, manifest)
	sm := &monitoringv1.ServiceMonitor{}
	require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(created.Object, sm))
	return sm
}

// createOperatorObject creates an object of the operator's kind from its YAML (less apiVersion and kind)
// through its CRD, and returns it as the API server stored it.
func createOperatorObject(t *testing.T, k *KubeCluster, gvr schema.GroupVersionResource, kind, namespace, manifest string) *unstructured.Unstructured {
	t.Helper()
	obj := &unstructured.Unstructured{}
	require.NoError(t, yaml.Unmarshal([]byte(manifest), &obj.Object))
	obj.SetAPIVersion(gvr.GroupVersion().String())
	obj.SetKind(kind)
	created, err := k.Dynamic.Resource(gvr).Namespace(namespace).Create(context.Background(), obj, metav1.CreateOptions{})
	require.NoError(t, err)
	return created
}

// visibleLabels are the labels a target keeps after relabeling: its address and those not starting "__".
func visibleLabels(ls labels.Labels) map[string]string {
	out := map[string]string{}
	ls.Range(func(l labels.Label) {
		if l.Name == "__address__" || !strings.HasPrefix(l.Name, "__") {
			out[l.Name] = l.Value
		}
	})
	return out
}

// The Watcher follows the monitors of a real API server: their jobs, routed by the db/rp annotations or
// the defaults, a monitor with a refused route or a missing Secret refused alone, and every create,
// change and delete signalled and seen at once.
func TestOperatorWatcher(t *testing.T) {
	k := StartKubeAPIServer(t)
	ns, other := k.Namespace(), k.Namespace()
	_, act := startWatcher(t, k, operator.WatchOptions{
		Namespaces: []string{ns}, ServiceMonitorSelector: "team=core", DB: "prometheus", RP: "autogen", CheckRoute: noSpaces,
	})
	web0, web1, db0 := watchedJob{"serviceMonitor/" + ns + "/web/0", "web", "week", "ServiceMonitor " + ns + "/web"},
		watchedJob{"serviceMonitor/" + ns + "/web/1", "web", "week", "ServiceMonitor " + ns + "/web"},
		watchedJob{"serviceMonitor/" + ns + "/db/0", "prometheus", "autogen", "ServiceMonitor " + ns + "/db"}
	refused := map[string]string{
		"ServiceMonitor " + ns + "/bad-db": "annotations discovering-prometheus.io/db, discovering-prometheus.io/rp: no spaces, please",
		"ServiceMonitor " + ns + "/auth":   `serviceMonitor/` + ns + `/auth/0: basicAuth.username: secret ` + ns + `/creds: secret "creds" not found`,
	}
	act(func() {
		createServiceMonitor(t, k, ns, `
metadata: {name: web, labels: {team: core}, annotations: {discovering-prometheus.io/db: web, discovering-prometheus.io/rp: week}}
spec: {selector: {matchLabels: {app: web}}, endpoints: [{port: metrics}, {port: admin}]}`)
		createServiceMonitor(t, k, ns, `
metadata: {name: db, labels: {team: core}}
spec: {selector: {matchLabels: {app: db}}, endpoints: [{port: metrics}]}`)
		createServiceMonitor(t, k, ns, `
metadata: {name: other-team, labels: {team: other}}
spec: {selector: {matchLabels: {app: x}}, endpoints: [{port: metrics}]}`)
		createServiceMonitor(t, k, other, `
metadata: {name: elsewhere, labels: {team: core}}
spec: {selector: {matchLabels: {app: x}}, endpoints: [{port: metrics}]}`)
		createServiceMonitor(t, k, ns, `
metadata: {name: bad-db, labels: {team: core}, annotations: {discovering-prometheus.io/db: "my db"}}
spec: {selector: {matchLabels: {app: x}}, endpoints: [{port: metrics}]}`)
		createServiceMonitor(t, k, ns, `
metadata: {name: auth, labels: {team: core}}
spec:
  selector: {matchLabels: {app: x}}
  endpoints: [{port: metrics, basicAuth: {username: {name: creds, key: user}, password: {name: creds, key: password}}}]`)
	}, []watchedJob{db0, web0, web1}, refused)

	// The Secret appears: the monitor that names it has its job.
	auth0 := watchedJob{"serviceMonitor/" + ns + "/auth/0", "prometheus", "autogen", "ServiceMonitor " + ns + "/auth"}
	delete(refused, "ServiceMonitor "+ns+"/auth")
	act(func() {
		_, err := k.Client.CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "creds"}, Data: map[string][]byte{"user": []byte("u"), "password": []byte("p")},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
	}, []watchedJob{auth0, db0, web0, web1}, refused)

	// A changed monitor (one endpoint less, another database), a deleted one.
	sms := k.Dynamic.Resource(operator.ServiceMonitors).Namespace(ns)
	web0.DB = "web2"
	act(func() {
		_, err := sms.Patch(context.Background(), "web", types.MergePatchType,
			[]byte(`{"metadata":{"annotations":{"discovering-prometheus.io/db":"web2"}},"spec":{"endpoints":[{"port":"metrics"}]}}`), metav1.PatchOptions{})
		require.NoError(t, err)
	}, []watchedJob{auth0, db0, web0}, refused)
	act(func() { require.NoError(t, sms.Delete(context.Background(), "db", metav1.DeleteOptions{})) }, []watchedJob{auth0, web0}, refused)
}

// watchedJob is what a test of the Watcher looks at in a job.
type watchedJob struct{ Name, DB, RP, Monitor string }

// startWatcher starts a Watcher of the API server until the test ends, and returns it with act: act makes
// changes, then waits (at most 2 s) for them to be signalled and the Watcher's jobs and refusals to be as
// wanted; the state is looked at only after a signal.
func startWatcher(t *testing.T, k *KubeCluster, opts operator.WatchOptions) (*operator.Watcher, func(change func(), wantJobs []watchedJob, wantRefused map[string]string)) {
	w := runWatcher(t, k.Client, k.Dynamic, opts)
	state := func() ([]watchedJob, map[string]string) {
		jobs, refused := w.Jobs()
		var got []watchedJob
		for _, j := range jobs {
			got = append(got, watchedJob{j.Config.JobName, j.DB, j.RP, j.Monitor})
		}
		why := map[string]string{}
		for _, r := range refused {
			why[r.Monitor] = r.Err.Error()
		}
		return got, why
	}
	return w, func(change func(), wantJobs []watchedJob, wantRefused map[string]string) {
		t.Helper()
		// The signals of earlier changes may come after the state they lead to: until a quiet 300 ms.
		for quiet := false; !quiet; {
			select {
			case <-w.Changed():
			case <-time.After(300 * time.Millisecond):
				quiet = true
			}
		}
		change()
		deadline := time.After(2 * time.Second)
		for {
			select {
			case <-w.Changed():
			case <-deadline:
				jobs, refused := state()
				require.Equal(t, wantJobs, jobs)
				require.Equal(t, wantRefused, refused)
				require.Fail(t, "the state is right, but its change was never signalled")
			}
			if jobs, refused := state(); reflect.DeepEqual(jobs, wantJobs) && reflect.DeepEqual(refused, wantRefused) {
				return
			}
		}
	}
}

// noSpaces is the CheckRoute of the tests of the Watcher: a database name has no spaces.
func noSpaces(db, _ string) error {
	if strings.Contains(db, " ") {
		return errors.New("no spaces, please")
	}
	return nil
}

// The Watcher follows the ScrapeConfigs of a real API server as it does monitors: those its
// ScrapeConfigSelector selects in its namespaces, routed by their annotations, one with a discovery this
// project has no discoverer for, a refused route or a missing Secret refused alone, a Secret's value in
// the job, and every create, change and delete signalled and seen at once.
func TestOperatorWatcherScrapeConfigs(t *testing.T) {
	k := StartKubeAPIServer(t)
	ns, other := k.Namespace(), k.Namespace()
	w, act := startWatcher(t, k, operator.WatchOptions{
		Namespaces: []string{ns}, ScrapeConfigSelector: "team=core", DB: "prometheus", RP: "autogen", CheckRoute: noSpaces,
	})
	create := func(namespace, manifest string) {
		createOperatorObject(t, k, operator.ScrapeConfigs, "ScrapeConfig", namespace, manifest)
	}

	static := watchedJob{"scrapeConfig/" + ns + "/static", "web", "week", "ScrapeConfig " + ns + "/static"}
	refused := map[string]string{
		"ScrapeConfig " + ns + "/openstack": "scrapeConfig/" + ns + "/openstack: spec.openstackSDConfigs: OpenStack discovery is not supported",
		"ScrapeConfig " + ns + "/bad-db":    "annotations discovering-prometheus.io/db, discovering-prometheus.io/rp: no spaces, please",
		"ScrapeConfig " + ns + "/consul":    "scrapeConfig/" + ns + `/consul: consulSDConfigs[0].tokenRef: secret ` + ns + `/consul: secret "consul" not found`,
	}
	act(func() {
		create(ns, `
metadata: {name: static, labels: {team: core}, annotations: {discovering-prometheus.io/db: web, discovering-prometheus.io/rp: week}}
spec: {jobName: node, staticConfigs: [{targets: ["192.0.2.1:9100"], labels: {env: prod}}]}`)
		create(ns, `
metadata: {name: consul, labels: {team: core}}
spec: {consulSDConfigs: [{server: "127.0.0.1:8500", tokenRef: {name: consul, key: token}}]}`)
		create(ns, `
metadata: {name: openstack, labels: {team: core}}
spec: {staticConfigs: [{targets: ["192.0.2.2:9100"]}], openstackSDConfigs: [{role: Instance, region: r1}]}`)
		create(ns, `
metadata: {name: bad-db, labels: {team: core}, annotations: {discovering-prometheus.io/db: "my db"}}
spec: {staticConfigs: [{targets: ["192.0.2.3:9100"]}]}`)
		create(ns, `
metadata: {name: other-team, labels: {team: other}}
spec: {staticConfigs: [{targets: ["192.0.2.4:9100"]}]}`)
		create(other, `
metadata: {name: elsewhere, labels: {team: core}}
spec: {staticConfigs: [{targets: ["192.0.2.5:9100"]}]}`)
	}, []watchedJob{static}, refused)
	jobs, _ := w.Jobs()
	groups := jobs[0].Config.ServiceDiscoveryConfigs[0].(discovery.StaticConfig)
	require.Equal(t, model.LabelSet{"__address__": "192.0.2.1:9100"}, groups[0].Targets[0])
	require.Equal(t, model.LabelSet{"env": "prod"}, groups[0].Labels)

	// The Secret appears: the consul discovery has its token.
	consulJob := watchedJob{"scrapeConfig/" + ns + "/consul", "prometheus", "autogen", "ScrapeConfig " + ns + "/consul"}
	delete(refused, "ScrapeConfig "+ns+"/consul")
	act(func() {
		_, err := k.Client.CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "consul"}, Data: map[string][]byte{"token": []byte("t0k3n")},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
	}, []watchedJob{consulJob, static}, refused)
	jobs, _ = w.Jobs()
	require.Equal(t, "t0k3n", string(jobs[0].Config.ServiceDiscoveryConfigs[0].(*consul.SDConfig).Token))

	// A changed ScrapeConfig (another database), a deleted one.
	scs := k.Dynamic.Resource(operator.ScrapeConfigs).Namespace(ns)
	static.DB = "web2"
	act(func() {
		_, err := scs.Patch(context.Background(), "static", types.MergePatchType,
			[]byte(`{"metadata":{"annotations":{"discovering-prometheus.io/db":"web2"}}}`), metav1.PatchOptions{})
		require.NoError(t, err)
	}, []watchedJob{consulJob, static}, refused)
	act(func() { require.NoError(t, scs.Delete(context.Background(), "consul", metav1.DeleteOptions{})) }, []watchedJob{static}, refused)
}

// Without the ScrapeConfig CRD the Watcher follows the monitors, and says once that it does not watch
// ScrapeConfigs. (The CRD is installed again after.)
func TestOperatorWatcherWithoutScrapeConfigCRD(t *testing.T) {
	k := StartKubeAPIServer(t)
	ctx := context.Background()
	const crd = "scrapeconfigs.monitoring.coreos.com"
	require.NoError(t, k.Dynamic.Resource(crdResource).Delete(ctx, crd, metav1.DeleteOptions{}))
	t.Cleanup(func() {
		require.NoError(t, k.installCRD(filepath.Join("testdata", "prometheus-operator-crd", "monitoring.coreos.com_scrapeconfigs.yaml")))
	})
	require.Eventually(t, func() bool {
		_, err := k.Dynamic.Resource(crdResource).Get(ctx, crd, metav1.GetOptions{})
		_, served := k.Dynamic.Resource(operator.ScrapeConfigs).List(ctx, metav1.ListOptions{Limit: 1})
		return apierrors.IsNotFound(err) && apierrors.IsNotFound(served)
	}, 20*time.Second, 50*time.Millisecond, "the CRD is deleted")

	ns := k.Namespace()
	var logs bytes.Buffer
	_, act := startWatcher(t, k, operator.WatchOptions{
		Namespaces: []string{ns}, DB: "prometheus", RP: "autogen", Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	act(func() {
		createServiceMonitor(t, k, ns, `
metadata: {name: web}
spec: {selector: {matchLabels: {app: web}}, endpoints: [{port: metrics}]}`)
	}, []watchedJob{{"serviceMonitor/" + ns + "/web/0", "prometheus", "autogen", "ServiceMonitor " + ns + "/web"}}, map[string]string{})
	require.Equal(t, 1, strings.Count(logs.String(), "\n"), logs.String())
	require.Contains(t, logs.String(), "resource=scrapeconfigs.monitoring.coreos.com/v1alpha1")
}

// runWatcher starts a Watcher with the clients until the test ends, and returns it once its informers
// have synced.
func runWatcher(t *testing.T, client clientset.Interface, dyn dynamic.Interface, opts operator.WatchOptions) *operator.Watcher {
	t.Helper()
	w, err := operator.NewWatcher(client, dyn, operator.Generator{}, opts)
	require.NoError(t, err)
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	// An informer of a kind not served, or not allowed, never syncs: Start would wait for stop.
	started := make(chan bool, 1)
	go func() { started <- w.Start(stop) }()
	select {
	case ok := <-started:
		require.True(t, ok)
	case <-time.After(20 * time.Second):
		require.Fail(t, "the informers never synced")
	}
	return w
}
