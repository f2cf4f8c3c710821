package tests

import (
	"context"
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	commonconfig "github.com/prometheus/common/config"
	"github.com/prometheus/prometheus/discovery/kubernetes"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
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
	sm := &monitoringv1.ServiceMonitor{}
	createMonitor(t, k, namespace, "ServiceMonitor", operator.ServiceMonitors, manifest, sm)
	return sm
}

// createMonitor creates a monitor of a kind from its YAML (less apiVersion and kind) through the CRD of
// its resource, and reads it as the API server stored it into stored.
func createMonitor(t *testing.T, k *KubeCluster, namespace, kind string, resource schema.GroupVersionResource, manifest string, stored any) {
	t.Helper()
	obj := &unstructured.Unstructured{}
	require.NoError(t, yaml.Unmarshal([]byte(manifest), &obj.Object))
	obj.SetAPIVersion("monitoring.coreos.com/v1")
	obj.SetKind(kind)
	created, err := k.Dynamic.Resource(resource).Namespace(namespace).Create(context.Background(), obj, metav1.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(created.Object, stored))
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
	w, err := operator.NewWatcher(k.Client, k.Dynamic, operator.Generator{}, operator.WatchOptions{
		Namespaces: []string{ns}, ServiceMonitorSelector: "team=core", DB: "prometheus", RP: "autogen",
		CheckRoute: func(db, rp string) error {
			if strings.Contains(db, " ") {
				return errors.New("no spaces, please")
			}
			return nil
		},
	})
	require.NoError(t, err)
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	require.True(t, w.Start(stop))

	type job struct{ Name, DB, RP, Monitor string }
	state := func() ([]job, map[string]string) {
		jobs, refused := w.Jobs()
		var got []job
		for _, j := range jobs {
			got = append(got, job{j.Config.JobName, j.DB, j.RP, j.Monitor})
		}
		why := map[string]string{}
		for _, r := range refused {
			why[r.Monitor] = r.Err.Error()
		}
		return got, why
	}
	// act makes changes, then waits (at most 2 s) for them to be signalled and the state to be as wanted;
	// the state is looked at only after a signal.
	act := func(change func(), wantJobs []job, wantRefused map[string]string) {
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

	web0, web1, db0 := job{"serviceMonitor/" + ns + "/web/0", "web", "week", "ServiceMonitor " + ns + "/web"},
		job{"serviceMonitor/" + ns + "/web/1", "web", "week", "ServiceMonitor " + ns + "/web"},
		job{"serviceMonitor/" + ns + "/db/0", "prometheus", "autogen", "ServiceMonitor " + ns + "/db"}
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
	}, []job{db0, web0, web1}, refused)

	// The Secret appears: the monitor that names it has its job.
	auth0 := job{"serviceMonitor/" + ns + "/auth/0", "prometheus", "autogen", "ServiceMonitor " + ns + "/auth"}
	delete(refused, "ServiceMonitor "+ns+"/auth")
	act(func() {
		_, err = k.Client.CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "creds"}, Data: map[string][]byte{"user": []byte("u"), "password": []byte("p")},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
	}, []job{auth0, db0, web0, web1}, refused)

	// A changed monitor (one endpoint less, another database), a deleted one.
	sms := k.Dynamic.Resource(operator.ServiceMonitors).Namespace(ns)
	web0.DB = "web2"
	act(func() {
		_, err = sms.Patch(context.Background(), "web", types.MergePatchType,
			[]byte(`{"metadata":{"annotations":{"discovering-prometheus.io/db":"web2"}},"spec":{"endpoints":[{"port":"metrics"}]}}`), metav1.PatchOptions{})
		require.NoError(t, err)
	}, []job{auth0, db0, web0}, refused)
	act(func() { require.NoError(t, sms.Delete(context.Background(), "db", metav1.DeleteOptions{})) }, []job{auth0, web0}, refused)
}
