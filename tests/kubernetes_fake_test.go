package tests

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

// kubernetesFakeKinds are the resources Prometheus' kubernetes discoverer lists and watches, by the path
// segment that names them, with their group/version and kind.
var kubernetesFakeKinds = map[string][2]string{
	"pods":           {"v1", "Pod"},
	"services":       {"v1", "Service"},
	"endpoints":      {"v1", "Endpoints"},
	"nodes":          {"v1", "Node"},
	"endpointslices": {"discovery.k8s.io/v1", "EndpointSlice"},
	"ingresses":      {"networking.k8s.io/v1", "Ingress"},
}

func kubernetesFakeResource(obj runtime.Object) string {
	switch obj.(type) {
	case *corev1.Pod:
		return "pods"
	case *corev1.Service:
		return "services"
	case *corev1.Endpoints: //nolint:staticcheck // Prometheus' role endpoints still watches v1 Endpoints; the fake serves them
		return "endpoints"
	case *corev1.Node:
		return "nodes"
	case *discoveryv1.EndpointSlice:
		return "endpointslices"
	case *networkingv1.Ingress:
		return "ingresses"
	}
	panic(fmt.Sprintf("kubernetes fake: no resource for %T", obj))
}

// kubernetesFake is a Kubernetes API server over HTTPS that answers only with the bearer token. It speaks
// the API's JSON wire format for what client-go's reflectors ask: a list (with metadata.resourceVersion),
// a watch from a resourceVersion (newline-delimited ADDED, MODIFIED and DELETED events, ended after
// timeoutSeconds), and the streaming list tried first (watch with sendInitialEvents=true: every object as
// ADDED, then a BOOKMARK annotated k8s.io/initial-events-end), each filtered by namespace and by label and
// field selectors (metadata.name and metadata.namespace, the fields every resource has).
type kubernetesFake struct {
	kubernetesAccess
	// NoWatchList refuses the streaming list, as API servers without the WatchList feature do, so that
	// client-go falls back to a list and a watch from its resourceVersion. Set it before any request.
	NoWatchList bool
	// PageSize, if not 0, caps every list at that many items, whatever limit the client asks (an API
	// server may return fewer): the rest come a page at a time for metadata.continue tokens. Set it before
	// any request.
	PageSize int

	t      testing.TB
	server *httptest.Server
	done   chan struct{}

	mu       sync.Mutex
	rv       int
	objects  map[string]map[string]kubernetesFakeEvent // by resource, then namespace/name
	history  []kubernetesFakeEvent
	changed  chan struct{} // closed on every change
	failing  bool
	requests []string // path?query of every authorised request
	expire   int      // watches still to end with 410 Gone, see ExpireWatch
	expired  int      // watches from a resourceVersion below this one are answered 410 Gone
}

type kubernetesFakeEvent struct {
	Type     string
	resource string
	rv       int
	object   runtime.Object
}

func startKubernetesFake(t testing.TB, token string) *kubernetesFake {
	t.Helper()
	f := &kubernetesFake{kubernetesAccess: kubernetesAccess{Token: token}, t: t, done: make(chan struct{}), objects: map[string]map[string]kubernetesFakeEvent{}, changed: make(chan struct{})}
	f.server = httptest.NewTLSServer(f)
	f.URL = f.server.URL
	f.CAFile = filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(f.CAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.server.Certificate().Raw}), 0o644))
	t.Cleanup(func() {
		close(f.done)
		f.server.Close()
	})
	return f
}

// Apply adds objects, or replaces those of the same namespace and name.
func (f *kubernetesFake) Apply(objects ...runtime.Object) {
	for _, obj := range objects {
		f.change(obj, false)
	}
}

// Delete removes an object.
func (f *kubernetesFake) Delete(obj runtime.Object) { f.change(obj, true) }

func (f *kubernetesFake) change(obj runtime.Object, deleted bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	resource := kubernetesFakeResource(obj)
	obj = obj.DeepCopyObject()
	m, _ := meta.Accessor(obj)
	key := m.GetNamespace() + "/" + m.GetName()
	if f.objects[resource] == nil {
		f.objects[resource] = map[string]kubernetesFakeEvent{}
	}
	_, exists := f.objects[resource][key]
	f.rv++
	m.SetResourceVersion(strconv.Itoa(f.rv))
	e := kubernetesFakeEvent{Type: "ADDED", resource: resource, rv: f.rv, object: obj}
	switch {
	case deleted:
		require.True(f.t, exists, "kubernetes fake: %s %s does not exist", resource, key)
		e.Type = "DELETED"
		delete(f.objects[resource], key)
	case exists:
		e.Type = "MODIFIED"
		f.objects[resource][key] = e
	default:
		f.objects[resource][key] = e
	}
	f.history = append(f.history, e)
	f.broadcast()
}

func (f *kubernetesFake) broadcast() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// SetFailing makes every request fail with 500 Internal Server Error, and ends the open watches, or
// serves again.
func (f *kubernetesFake) SetFailing(failing bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failing = failing
	f.broadcast()
}

// ExpireWatch ends the next watch to see a change, open or started later, with an ERROR event whose
// Status is 410 Expired, as an API server does when a watcher's resourceVersion is too old; then it
// applies the objects, which that watch never delivers, and forgets the history before them (a watch
// from an older resourceVersion is answered 410 too): only a new list finds them.
func (f *kubernetesFake) ExpireWatch(objects ...runtime.Object) {
	f.mu.Lock()
	f.expire++
	f.mu.Unlock()
	f.Apply(objects...)
	f.mu.Lock()
	f.expired = f.rv
	f.mu.Unlock()
}

// Requests returns the path and query of every authorised request so far.
func (f *kubernetesFake) Requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

func (f *kubernetesFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+f.Token {
		kubernetesFakeStatus(w, http.StatusUnauthorized, "Unauthorized", "Unauthorized")
		return
	}
	f.mu.Lock()
	f.requests = append(f.requests, r.URL.Path+"?"+r.URL.RawQuery)
	failing := f.failing
	f.mu.Unlock()
	if failing {
		kubernetesFakeStatus(w, http.StatusInternalServerError, "InternalError", "kubernetes fake: failing on purpose")
		return
	}
	resource, namespace, ok := kubernetesFakePath(r.URL.Path)
	if r.Method != http.MethodGet || !ok {
		f.t.Logf("kubernetes fake: no route for %s %s", r.Method, r.URL)
		kubernetesFakeStatus(w, http.StatusNotFound, "NotFound", "the server could not find the requested resource")
		return
	}
	q := r.URL.Query()
	labelSelector, err := labels.Parse(q.Get("labelSelector"))
	if err != nil {
		kubernetesFakeStatus(w, http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	fieldSelector, err := fields.ParseSelector(q.Get("fieldSelector"))
	if err != nil {
		kubernetesFakeStatus(w, http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	match := func(e kubernetesFakeEvent) bool {
		m, _ := meta.Accessor(e.object)
		return e.resource == resource && (namespace == "" || m.GetNamespace() == namespace) &&
			labelSelector.Matches(labels.Set(m.GetLabels())) &&
			fieldSelector.Matches(kubernetesFakeFields(e.object))
	}
	if q.Get("watch") == "true" || q.Get("watch") == "1" {
		if f.NoWatchList && q.Get("sendInitialEvents") == "true" {
			kubernetesFakeStatus(w, http.StatusUnprocessableEntity, "Invalid", "sendInitialEvents: Forbidden: sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled")
			return
		}
		f.watch(w, r, resource, match)
		return
	}
	f.mu.Lock()
	items := f.current(resource, match)
	rv := f.rv
	f.mu.Unlock()
	listMeta := map[string]any{"resourceVersion": strconv.Itoa(rv)}
	if token := q.Get("continue"); token != "" {
		// A token is the resourceVersion of the first page and the offset of the next: the fake keeps no
		// snapshots, so a token older than the last change has expired, as compacted ones do.
		tokenRV, offset, ok := strings.Cut(token, ":")
		n, err := strconv.Atoi(offset)
		if !ok || err != nil || n > len(items) {
			kubernetesFakeStatus(w, http.StatusBadRequest, "BadRequest", "continue key is not valid")
			return
		}
		if tokenRV != strconv.Itoa(rv) {
			kubernetesFakeStatus(w, http.StatusGone, "Expired", "The provided continue parameter is too old to display a consistent list result.")
			return
		}
		items = items[n:]
		listMeta["continue"] = "" // replaced below if there is more
	}
	page := f.PageSize
	if limit, err := strconv.Atoi(q.Get("limit")); err == nil && limit > 0 && (page == 0 || limit < page) {
		page = limit
	}
	if page > 0 && len(items) > page {
		offset := page
		if token := q.Get("continue"); token != "" {
			_, o, _ := strings.Cut(token, ":")
			n, _ := strconv.Atoi(o)
			offset += n
		}
		items = items[:page]
		listMeta["continue"] = strconv.Itoa(rv) + ":" + strconv.Itoa(offset)
		listMeta["remainingItemCount"] = len(f.currentLocked(resource, match)) - offset
	} else {
		delete(listMeta, "continue")
	}
	list := map[string]any{
		"kind": kubernetesFakeKinds[resource][1] + "List", "apiVersion": kubernetesFakeKinds[resource][0],
		"metadata": listMeta, "items": items,
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(list)
}

// kubernetesFakePath splits /api/v1[/namespaces/NS]/RESOURCE and /apis/GROUP/VERSION[/namespaces/NS]/RESOURCE.
func kubernetesFakePath(path string) (resource, namespace string, ok bool) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	var groupVersion string
	switch {
	case len(parts) >= 3 && parts[0] == "api":
		groupVersion, parts = parts[1], parts[2:]
	case len(parts) >= 4 && parts[0] == "apis":
		groupVersion, parts = parts[1]+"/"+parts[2], parts[3:]
	default:
		return "", "", false
	}
	switch {
	case len(parts) == 3 && parts[0] == "namespaces":
		namespace, resource = parts[1], parts[2]
	case len(parts) == 1:
		resource = parts[0]
	default:
		return "", "", false
	}
	kind, known := kubernetesFakeKinds[resource]
	return resource, namespace, known && kind[0] == groupVersion && (resource != "nodes" || namespace == "")
}

func (f *kubernetesFake) currentLocked(resource string, match func(kubernetesFakeEvent) bool) []runtime.Object {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.current(resource, match)
}

// current returns the matching objects, ordered by namespace and name. f.mu is held.
func (f *kubernetesFake) current(resource string, match func(kubernetesFakeEvent) bool) []runtime.Object {
	keys := make([]string, 0, len(f.objects[resource]))
	for k := range f.objects[resource] {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var out []runtime.Object
	for _, k := range keys {
		if e := f.objects[resource][k]; match(e) {
			out = append(out, e.object)
		}
	}
	return out
}

func (f *kubernetesFake) watch(w http.ResponseWriter, r *http.Request, resource string, match func(kubernetesFakeEvent) bool) {
	q := r.URL.Query()
	timeout := 30 * time.Minute
	if s, err := strconv.Atoi(q.Get("timeoutSeconds")); err == nil {
		timeout = time.Duration(s) * time.Second
	}
	kind := kubernetesFakeKinds[resource]
	var pending []kubernetesFakeEvent
	tooOld := false
	f.mu.Lock()
	from := f.rv
	initial := q.Get("sendInitialEvents") == "true"
	switch rv := q.Get("resourceVersion"); {
	case initial || rv == "" || rv == "0":
		// The objects as they are, as synthetic ADDED events, then the changes after them.
		for _, obj := range f.current(resource, match) {
			pending = append(pending, kubernetesFakeEvent{Type: "ADDED", object: obj})
		}
	default:
		n, err := strconv.Atoi(rv)
		if err != nil || n > f.rv {
			f.mu.Unlock()
			kubernetesFakeStatus(w, http.StatusGatewayTimeout, "Timeout", "Too large resource version: "+rv)
			return
		}
		from = n
		tooOld = n < f.expired // answered below, as the first thing the watch sends
	}
	f.mu.Unlock()

	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w) // one event a line
	send := func(events []kubernetesFakeEvent) bool {
		for _, e := range events {
			// Unlike a list's items, a watched object says what it is.
			var object map[string]any
			_ = json.Unmarshal(kubernetesJSON(e.object), &object)
			object["apiVersion"], object["kind"] = kind[0], kind[1]
			if err := enc.Encode(map[string]any{"type": e.Type, "object": object}); err != nil {
				return false
			}
		}
		w.(http.Flusher).Flush()
		return true
	}
	if initial {
		bookmark := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
			ResourceVersion: strconv.Itoa(from), Annotations: map[string]string{metav1.InitialEventsAnnotationKey: "true"},
		}}
		pending = append(pending, kubernetesFakeEvent{Type: "BOOKMARK", object: bookmark})
	}
	if !send(pending) {
		return
	}
	deadline := time.After(timeout)
	for {
		f.mu.Lock()
		pending = pending[:0]
		for _, e := range f.history {
			if e.rv > from && match(e) {
				pending = append(pending, e)
			}
		}
		if len(f.history) > 0 {
			from = max(from, f.history[len(f.history)-1].rv)
		}
		failing, changed, expire := f.failing, f.changed, tooOld || f.expire > 0
		if expire && !tooOld {
			f.expire--
		}
		f.mu.Unlock()
		if expire {
			// What an API server sends a watcher it can no longer serve, before it closes the stream.
			_ = enc.Encode(map[string]any{"type": "ERROR", "object": map[string]any{
				"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{}, "status": "Failure",
				"message": "too old resource version: " + strconv.Itoa(from), "reason": "Expired", "code": http.StatusGone,
			}})
			w.(http.Flusher).Flush()
			return
		}
		if failing || !send(pending) {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			return
		case <-r.Context().Done():
			return
		case <-f.done:
			return
		}
	}
}

func kubernetesJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func kubernetesFakeStatus(w http.ResponseWriter, code int, reason, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{},
		"status": "Failure", "message": message, "reason": reason, "code": code,
	})
}

// kubernetesFakeFields are the fields a field selector may name for an object: its name and namespace, and a
// pod's node, as the API server's pod strategy has them (spec.nodeName, which a DaemonSet selects on).
func kubernetesFakeFields(obj runtime.Object) fields.Set {
	m, _ := meta.Accessor(obj)
	set := fields.Set{"metadata.name": m.GetName(), "metadata.namespace": m.GetNamespace()}
	if pod, ok := obj.(*corev1.Pod); ok {
		set["spec.nodeName"] = pod.Spec.NodeName
	}
	return set
}

// Lists come a page at a time, and a watch ends with 410 Gone: Prometheus' discoverer follows the
// continue tokens, lists again after the 410, and its targets are right afterwards, including a pod the
// expired watch never delivered.
func testKubernetesRelist(t *testing.T) {
	f := startKubernetesFake(t, kubernetesToken)
	f.NoWatchList = true // a list then watches: the streaming list has no pages
	f.PageSize = 2
	e := StartExporter(t, "a")
	pod := func(name string) *corev1.Pod {
		return kubernetesPod("default", name, e, map[string]string{"app": "web"})
	}
	group := func(name string) *targetgroup.Group { return kubernetesPodGroup(pod(name), e, nil) }
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

// An outage of the API server (which a real one does not have on demand): the last known targets are
// still scraped, the failure is logged once however often client-go retries (the retries at debug level),
// and once it answers again a pod created meanwhile is found, and the recovery logged.
func testKubernetesOutage(t *testing.T) {
	f := startKubernetesFake(t, kubernetesToken)
	a, c, d := StartExporter(t, "a"), StartExporter(t, "c"), StartExporter(t, "d")
	pod := func(name string, e *Exporter) *corev1.Pod {
		return kubernetesPod("default", name, e, map[string]string{"app": "web"})
	}
	f.Apply(pod("web-a", a), pod("web-c", c))
	toml := kubernetesConfig(kubernetesServer(f) + "    role = \"pod\"\n    namespaces = [\"default\"]\n")
	r := StartPlugin(t, toml)
	r.GatherUntil(20*time.Second, "web-a and web-c scraped", kubernetesInstances(a.Addr, c.Addr))

	f.SetFailing(true)
	failed := func(level byte) int {
		return CountLog(r.Log, level, `discoverer=kubernetes "k8s"`, "kubernetes API request failed", "kubernetes fake: failing on purpose")
	}
	Eventually(t, 20*time.Second, "client-go retrying twice", func() bool { return failed('D') >= 2 })
	ms := r.GatherUntil(5*time.Second, "the last known targets scraped", kubernetesInstances(a.Addr, c.Addr))
	require.Equal(t, map[string]float64{a.Addr: 1, c.Addr: 1}, Up(ms))
	require.Equal(t, 1, failed('E'), "%v", r.Log.Messages())

	f.SetFailing(false)
	f.Apply(pod("web-d", d))
	ms = r.GatherUntil(30*time.Second, "web-d found after the recovery", kubernetesInstances(a.Addr, c.Addr, d.Addr))
	kubernetesExporterInfo(t, ms, map[string]string{a.Addr: "a", c.Addr: "c", d.Addr: "d"})
	require.Equal(t, 1, CountLog(r.Log, 'I', "discoverer recovered", "kubernetes \"k8s\""), "%v", r.Log.Messages())
	require.Equal(t, 1, failed('E'))
}

// What the discoverer asks, which a real API server does not show: a namespace and label selector sent
// to the server (not only applied to the targets), and, from a server without the streaming list, a list
// then a watch from its resourceVersion, each with the field selector.
func testKubernetesRequests(t *testing.T) {
	f := startKubernetesFake(t, kubernetesToken)
	f.NoWatchList = true
	e := StartExporter(t, "a")
	web := kubernetesPod("default", "web-a", e, map[string]string{"app": "web"})
	svc := kubernetesService("default", "web", "web")
	f.Apply(web, kubernetesPod("default", "batch", e, map[string]string{"app": "batch"}), svc, kubernetesService("default", "hidden", "web"))
	pods := startKubernetesSD(t, kubernetesConfig(kubernetesServer(f)+`    resource = "pod"
    namespace = "default"
    [[inputs.discovering_prometheus.kubernetes.selectors]]
      role = "pod"
      label = "app=web"
`))
	pods.WaitFor(t, kubernetesPodGroup(web, e, nil))
	require.Empty(t, kubernetesQueries(t, f, "/api/v1/pods"))
	require.NotEmpty(t, kubernetesQueries(t, f, "/api/v1/namespaces/default/pods"))
	for _, q := range kubernetesQueries(t, f, "/api/v1/namespaces/default/pods") {
		require.Equal(t, "app=web", q.Get("labelSelector"))
	}

	services := startKubernetesSD(t, kubernetesConfig(kubernetesServer(f)+`    role = "service"
    [[inputs.discovering_prometheus.kubernetes.selectors]]
      role = "service"
      field = "metadata.name!=hidden"
`))
	services.WaitFor(t, kubernetesServiceGroup(svc))
	var list, watch bool
	for _, q := range kubernetesQueries(t, f, "/api/v1/services") {
		require.Equal(t, "metadata.name!=hidden", q.Get("fieldSelector"))
		list = list || q.Get("watch") == ""
		watch = watch || (q.Get("watch") == "true" && q.Get("resourceVersion") != "" && q.Get("sendInitialEvents") == "")
	}
	require.True(t, list && watch, "%v", f.Requests())
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
