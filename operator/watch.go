package operator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	monitoringv1alpha1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1alpha1"
	promconfig "github.com/prometheus/prometheus/config"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// The annotations that route a monitor's data to an InfluxDB database and retention policy of its own.
const (
	AnnotationDB = "discovering-prometheus.io/db"
	AnnotationRP = "discovering-prometheus.io/rp"
)

// The monitors' resources.
var (
	ServiceMonitors = schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: "servicemonitors"}
	PodMonitors     = schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: "podmonitors"}
	ScrapeConfigs   = schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1alpha1", Resource: "scrapeconfigs"}
)

// WatchOptions say which monitors (ServiceMonitors, PodMonitors, ScrapeConfigs) a Watcher takes and where
// their data goes by default.
type WatchOptions struct {
	// Namespaces are those watched; none: all.
	Namespaces []string
	// ServiceMonitorSelector, PodMonitorSelector and ScrapeConfigSelector are label selectors in
	// Kubernetes' syntax; "" selects all.
	ServiceMonitorSelector, PodMonitorSelector, ScrapeConfigSelector string
	// DB and RP route the data of a monitor without the annotations.
	DB, RP string
	// CheckRoute, if not nil, checks a monitor's db and rp; a monitor whose route it refuses has no jobs.
	CheckRoute func(db, rp string) error
	// Logger says which kinds the API server does not serve (their CRD not installed), and which this
	// instance may not list in a namespace; nil is slog.Default().
	Logger *slog.Logger
}

// Job is a job of a monitor, with the route of its data.
type Job struct {
	Config *promconfig.ScrapeConfig
	DB, RP string
	// Monitor names the object that produced the job: "ServiceMonitor <namespace>/<name>", "PodMonitor
	// ...", "ScrapeConfig ...".
	Monitor string
}

// Refused is a monitor that produces no job, and why.
type Refused struct {
	Monitor string
	Err     error
}

// Watcher keeps the ServiceMonitors, PodMonitors and ScrapeConfigs of an API server, and the Secrets and
// ConfigMaps their credentials come from, with client-go informers. Jobs converts the current ones; Changed
// is signalled after every change of any of them that can change the jobs. A kind whose CRD the API server
// does not serve when the Watcher is made is not watched (it says so once in the log), nor, in a
// namespace, what this instance may not list there, nor ScrapeConfigs with the Generator's NodeName.
type Watcher struct {
	gen      Generator
	opts     WatchOptions
	monitors map[schema.GroupVersionResource][]cache.GenericLister
	changed  chan struct{}
	synced   []cache.InformerSynced
	start    []func(stop <-chan struct{})
}

// NewWatcher sets up the informers; Start starts them. gen's Store is replaced by the informers' listers.
func NewWatcher(client kubernetes.Interface, dyn dynamic.Interface, gen Generator, opts WatchOptions) (*Watcher, error) {
	w := &Watcher{gen: gen, opts: opts, monitors: map[schema.GroupVersionResource][]cache.GenericLister{}, changed: make(chan struct{}, 1)}
	namespaces := opts.Namespaces
	if len(namespaces) == 0 {
		namespaces = []string{metav1.NamespaceAll}
	}
	notify := cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { w.notify() },
		UpdateFunc: func(old, updated any) {
			if changesJobs(old, updated) {
				w.notify()
			}
		},
		DeleteFunc: func(any) { w.notify() },
	}
	type kind struct {
		gvr      schema.GroupVersionResource
		key, sel string
	}
	kinds := []kind{
		{ServiceMonitors, "service_monitor_selector", opts.ServiceMonitorSelector},
		{PodMonitors, "pod_monitor_selector", opts.PodMonitorSelector},
		{ScrapeConfigs, "scrape_config_selector", opts.ScrapeConfigSelector},
	}
	for _, m := range kinds {
		if _, err := labels.Parse(m.sel); err != nil {
			return nil, fmt.Errorf("%s: %w", m.key, err)
		}
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	// What is served and may be listed is asked of the API server once per kind and namespace, within
	// 10 s in all: an API server that does not answer delays the start no longer.
	probe, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kinds = slices.DeleteFunc(kinds, func(m kind) bool {
		if m.gvr == ScrapeConfigs && gen.NodeName != "" {
			logger.Info("ScrapeConfigs are not watched by an instance of one node: their targets are of no node", "node", gen.NodeName)
			return true
		}
		if err := listable(probe, dyn.Resource(m.gvr).Namespace(namespaces[0]).List); !apierrors.IsNotFound(err) {
			return false
		}
		logger.Warn("the API server does not serve this kind (is its CRD installed?): not watched", "resource", resourceName(m.gvr))
		return true
	})
	// A kind, or the Secrets or ConfigMaps, that this instance may not list in a namespace is not watched
	// there: its informer would never sync, and Start would wait for it, the jobs of all the others with it.
	forbidden := func(resource, ns string, err error) bool {
		if !apierrors.IsForbidden(err) {
			return false
		}
		logger.Warn("this instance may not list this kind here (does its RBAC grant get, list and watch?): not watched", "resource", resource, "namespace", ns)
		return true
	}
	var stores []ListerStore
	for _, ns := range namespaces {
		for _, m := range kinds {
			if forbidden(resourceName(m.gvr), ns, listable(probe, dyn.Resource(m.gvr).Namespace(ns).List)) {
				continue
			}
			factory := dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, 0, ns, func(o *metav1.ListOptions) { o.LabelSelector = m.sel })
			informer := factory.ForResource(m.gvr)
			if _, err := informer.Informer().AddEventHandler(notify); err != nil {
				return nil, err
			}
			w.monitors[m.gvr] = append(w.monitors[m.gvr], informer.Lister())
			w.synced = append(w.synced, informer.Informer().HasSynced)
			w.start = append(w.start, factory.Start)
		}
		core := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(ns))
		var store ListerStore
		var watched []cache.SharedIndexInformer
		if !forbidden("secrets", ns, listable(probe, client.CoreV1().Secrets(ns).List)) {
			store.Secrets = core.Core().V1().Secrets().Lister()
			watched = append(watched, core.Core().V1().Secrets().Informer())
		}
		if !forbidden("configmaps", ns, listable(probe, client.CoreV1().ConfigMaps(ns).List)) {
			store.ConfigMaps = core.Core().V1().ConfigMaps().Lister()
			watched = append(watched, core.Core().V1().ConfigMaps().Informer())
		}
		for _, i := range watched {
			if _, err := i.AddEventHandler(notify); err != nil {
				return nil, err
			}
			w.synced = append(w.synced, i.HasSynced)
		}
		stores = append(stores, store)
		w.start = append(w.start, core.Start)
	}
	// A monitor names only Secrets and ConfigMaps of its own namespace: with all namespaces watched there
	// is one store, else that of the monitor's namespace, through byNamespace.
	w.gen.Store = byNamespace{namespaces: namespaces, stores: stores}
	return w, nil
}

// listable is the error of a list of one item (nil: the list works, or ctx ended first, leaving it
// untold: the informer retries).
func listable[T any](ctx context.Context, list func(context.Context, metav1.ListOptions) (T, error)) error {
	_, err := list(ctx, metav1.ListOptions{Limit: 1})
	return err
}

func resourceName(gvr schema.GroupVersionResource) string {
	return gvr.Resource + "." + gvr.Group + "/" + gvr.Version
}

// Start starts the informers, until stop is closed; it returns once they have synced, or stop closes.
func (w *Watcher) Start(stop <-chan struct{}) bool {
	for _, start := range w.start {
		start(stop)
	}
	return cache.WaitForCacheSync(stop, w.synced...)
}

// Changed is signalled (once for any number of changes since the last receive) after a monitor, Secret or
// ConfigMap changes.
func (w *Watcher) Changed() <-chan struct{} { return w.changed }

// changesJobs says whether an update can change the jobs: a monitor's spec or routing annotations, a
// Secret's or ConfigMap's data. Updates of anything else (a status, another annotation, the
// resourceVersion a ConfigMap of a leader election bumps every few seconds) would each cost a reload
// that changes nothing.
func changesJobs(old, updated any) bool {
	switch o := old.(type) {
	case *unstructured.Unstructured:
		u, ok := updated.(*unstructured.Unstructured)
		return !ok || !equality.Semantic.DeepEqual(o.Object["spec"], u.Object["spec"]) ||
			o.GetAnnotations()[AnnotationDB] != u.GetAnnotations()[AnnotationDB] ||
			o.GetAnnotations()[AnnotationRP] != u.GetAnnotations()[AnnotationRP]
	case *corev1.Secret:
		u, ok := updated.(*corev1.Secret)
		return !ok || !equality.Semantic.DeepEqual(o.Data, u.Data)
	case *corev1.ConfigMap:
		u, ok := updated.(*corev1.ConfigMap)
		return !ok || !maps.Equal(o.Data, u.Data)
	}
	return true
}

func (w *Watcher) notify() {
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// Jobs converts the current monitors, in the order of their kind, namespace and name; a monitor that
// cannot be converted, or whose route is refused, is refused alone.
func (w *Watcher) Jobs() ([]Job, []Refused) {
	var jobs []Job
	var refused []Refused
	for _, kind := range []struct {
		name string
		gvr  schema.GroupVersionResource
		obj  func() runtime.Object
	}{
		{"ServiceMonitor", ServiceMonitors, func() runtime.Object { return &monitoringv1.ServiceMonitor{} }},
		{"PodMonitor", PodMonitors, func() runtime.Object { return &monitoringv1.PodMonitor{} }},
		{"ScrapeConfig", ScrapeConfigs, func() runtime.Object { return &monitoringv1alpha1.ScrapeConfig{} }},
	} {
		var objs []*unstructured.Unstructured
		for _, lister := range w.monitors[kind.gvr] {
			list, _ := lister.List(labels.Everything()) // a cache's List does not fail
			for _, o := range list {
				objs = append(objs, o.(*unstructured.Unstructured))
			}
		}
		slices.SortFunc(objs, func(a, b *unstructured.Unstructured) int {
			return strings.Compare(a.GetNamespace()+"/"+a.GetName(), b.GetNamespace()+"/"+b.GetName())
		})
		for _, u := range objs {
			name := kind.name + " " + u.GetNamespace() + "/" + u.GetName()
			configs, db, rp, err := w.convert(u, kind.obj())
			if err != nil {
				refused = append(refused, Refused{Monitor: name, Err: err})
				continue
			}
			for _, c := range configs {
				jobs = append(jobs, Job{Config: c, DB: db, RP: rp, Monitor: name})
			}
		}
	}
	return jobs, refused
}

func (w *Watcher) convert(u *unstructured.Unstructured, obj runtime.Object) ([]*promconfig.ScrapeConfig, string, string, error) {
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, obj); err != nil {
		return nil, "", "", err
	}
	db, rp := w.opts.DB, w.opts.RP
	if v, ok := u.GetAnnotations()[AnnotationDB]; ok {
		db = v
	}
	if v, ok := u.GetAnnotations()[AnnotationRP]; ok {
		rp = v
	}
	if db == "" || rp == "" {
		return nil, "", "", fmt.Errorf("annotations %s and %s: a database and a retention policy are needed", AnnotationDB, AnnotationRP)
	}
	if w.opts.CheckRoute != nil {
		if err := w.opts.CheckRoute(db, rp); err != nil {
			return nil, "", "", fmt.Errorf("annotations %s, %s: %w", AnnotationDB, AnnotationRP, err)
		}
	}
	var configs []*promconfig.ScrapeConfig
	var err error
	switch m := obj.(type) {
	case *monitoringv1.ServiceMonitor:
		configs, err = w.gen.ServiceMonitor(m)
	case *monitoringv1.PodMonitor:
		configs, err = w.gen.PodMonitor(m)
	case *monitoringv1alpha1.ScrapeConfig:
		var c *promconfig.ScrapeConfig
		if c, err = w.gen.ScrapeConfig(m); err == nil {
			configs = []*promconfig.ScrapeConfig{c}
		}
	default:
		err = errors.New("not a monitor")
	}
	return configs, db, rp, err
}

// byNamespace is the Store of the namespace's informers.
type byNamespace struct {
	namespaces []string
	stores     []ListerStore
}

func (b byNamespace) store(namespace string) (Store, error) {
	for i, ns := range b.namespaces {
		if ns == metav1.NamespaceAll || ns == namespace {
			return b.stores[i], nil
		}
	}
	return nil, fmt.Errorf("namespace %s is not watched", namespace)
}

func (b byNamespace) SecretKey(namespace string, sel corev1.SecretKeySelector) (string, error) {
	s, err := b.store(namespace)
	if err != nil {
		return "", err
	}
	return s.SecretKey(namespace, sel)
}

func (b byNamespace) ConfigMapKey(namespace string, sel corev1.ConfigMapKeySelector) (string, error) {
	s, err := b.store(namespace)
	if err != nil {
		return "", err
	}
	return s.ConfigMapKey(namespace, sel)
}
