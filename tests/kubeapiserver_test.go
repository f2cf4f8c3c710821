package tests

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// kubeAPIServerScript builds the binaries (make servers runs it) and names them.
const kubeAPIServerScript = "../scripts/kube-apiserver.sh"

// kubeAPIServerToken is the static bearer token of a system:masters user.
const kubeAPIServerToken = "test-admin-token"

// KubeAPIServer is a real kube-apiserver on an etcd of its own, both on loopback, built by
// scripts/kube-apiserver.sh. One serves the whole test binary (it takes about 4 s to start): a test
// keeps out of the others' way by creating its objects in namespaces of its own (KubeCluster.Namespace)
// and nodes of unique names. The operator's CRDs are installed.
type KubeAPIServer struct {
	kubernetesAccess
	Client  kubernetes.Interface
	Dynamic dynamic.Interface

	dir   string
	procs []*exec.Cmd
}

// kubernetesAccess is how a client reaches an API server: its URL, the CA of its certificate, a token.
type kubernetesAccess struct{ URL, CAFile, Token string }

func (a kubernetesAccess) access() kubernetesAccess { return a }

var kubeAPI struct {
	once   sync.Once
	server *KubeAPIServer
	err    error
}

// KubeCluster is a test's view of the shared KubeAPIServer: objects applied and deleted through client-go,
// any failure failing the test.
type KubeCluster struct {
	*KubeAPIServer
	t testing.TB
}

// StartKubeAPIServer returns the test binary's API server, started at its first use, or skips (plain go
// test) or fails (make test) without its binaries.
func StartKubeAPIServer(t testing.TB) *KubeCluster {
	t.Helper()
	out, err := exec.Command(kubeAPIServerScript, "paths").Output()
	require.NoError(t, err, "%s paths", kubeAPIServerScript)
	bins := strings.Fields(string(out))
	require.Len(t, bins, 2, "%s paths: %s", kubeAPIServerScript, out)
	for _, bin := range bins {
		if _, err := os.Stat(bin); err != nil {
			if requireServers {
				t.Fatalf("%s is not built; make servers builds it", bin)
			}
			t.Skipf("%s is not built (make servers builds it: scripts/kube-apiserver.sh)", bin)
		}
	}
	kubeAPI.once.Do(func() { kubeAPI.server, kubeAPI.err = startKubeAPIServer(bins[0], bins[1]) })
	require.NoError(t, kubeAPI.err)
	return &KubeCluster{KubeAPIServer: kubeAPI.server, t: t}
}

// stopKubeAPIServer stops the API server and etcd, if a test started them (from TestMain).
func stopKubeAPIServer() {
	if s := kubeAPI.server; s != nil {
		s.stop()
	}
}

func startKubeAPIServer(etcd, apiserver string) (*KubeAPIServer, error) {
	dir, err := os.MkdirTemp("", "dp-kube-apiserver")
	if err != nil {
		return nil, err
	}
	s := &KubeAPIServer{dir: dir}
	if err := s.start(etcd, apiserver); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

func (s *KubeAPIServer) start(etcd, apiserver string) error {
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	client, peer, secure := fmt.Sprintf("http://127.0.0.1:%d", ports[0]), fmt.Sprintf("http://127.0.0.1:%d", ports[1]), ports[2]
	if err := s.run(etcd, "etcd", "--unsafe-no-fsync", "--name=test", "--data-dir="+filepath.Join(s.dir, "etcd"),
		"--listen-client-urls="+client, "--advertise-client-urls="+client,
		"--listen-peer-urls="+peer, "--initial-advertise-peer-urls="+peer, "--initial-cluster=test="+peer); err != nil {
		return err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	files := map[string][]byte{
		"sa.key":     pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}),
		"sa.pub":     pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}),
		"tokens.csv": []byte(kubeAPIServerToken + ",admin,admin-uid,system:masters\n"),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(s.dir, name), content, 0o600); err != nil {
			return err
		}
	}
	certs := filepath.Join(s.dir, "certs")
	// No controller runs: nothing creates a namespace's default ServiceAccount (so the admission plugin
	// that needs it is off), and no endpoint reconciler may run with a loopback advertise address.
	if err := s.run(apiserver, "kube-apiserver", "--etcd-servers="+client,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", secure),
		"--cert-dir="+certs, "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+filepath.Join(s.dir, "sa.pub"),
		"--service-account-signing-key-file="+filepath.Join(s.dir, "sa.key"),
		"--token-auth-file="+filepath.Join(s.dir, "tokens.csv"), "--authorization-mode=RBAC",
		"--service-cluster-ip-range=10.96.0.0/16", "--endpoint-reconciler-type=none",
		"--disable-admission-plugins=ServiceAccount", "--profiling=false"); err != nil {
		return err
	}
	s.kubernetesAccess = kubernetesAccess{URL: fmt.Sprintf("https://127.0.0.1:%d", secure), CAFile: filepath.Join(certs, "apiserver.crt"), Token: kubeAPIServerToken}
	if err := s.waitReady(30 * time.Second); err != nil {
		return err
	}
	cfg := &rest.Config{Host: s.URL, BearerToken: s.Token, TLSClientConfig: rest.TLSClientConfig{CAFile: s.CAFile}, QPS: 100, Burst: 200}
	if s.Client, err = kubernetes.NewForConfig(cfg); err != nil {
		return err
	}
	if s.Dynamic, err = dynamic.NewForConfig(cfg); err != nil {
		return err
	}
	return s.installCRDs()
}

// run starts a server whose output goes to a log file in the directory; it dies with the test binary.
func (s *KubeAPIServer) run(bin, name string, args ...string) error {
	log, err := os.Create(filepath.Join(s.dir, name+".log"))
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	s.procs = append(s.procs, cmd)
	return nil
}

// waitReady waits until /readyz answers 200, which takes about 4 s (the certificate is written first).
func (s *KubeAPIServer) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for ; time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		for _, p := range s.procs {
			if p.ProcessState != nil {
				return fmt.Errorf("%s exited: %s", p.Path, s.logTail())
			}
		}
		cfg := &rest.Config{Host: s.URL, BearerToken: s.Token, TLSClientConfig: rest.TLSClientConfig{CAFile: s.CAFile}}
		client, err := rest.HTTPClientFor(cfg)
		if err != nil {
			continue // the certificate is not written yet
		}
		resp, err := client.Get(s.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("kube-apiserver not ready within %v: %s", timeout, s.logTail())
}

func (s *KubeAPIServer) logTail() string {
	out, _ := os.ReadFile(filepath.Join(s.dir, "kube-apiserver.log"))
	if len(out) > 4000 {
		out = out[len(out)-4000:]
	}
	return string(out)
}

func (s *KubeAPIServer) stop() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		_ = s.procs[i].Process.Kill()
		_ = s.procs[i].Wait()
	}
	_ = os.RemoveAll(s.dir)
}

// freePorts returns n loopback ports that were free a moment ago, all different.
func freePorts(n int) ([]int, error) {
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// installCRDs creates the prometheus-operator CRDs of testdata/prometheus-operator-crd and waits until
// each is served.
func (s *KubeAPIServer) installCRDs() error {
	files, err := filepath.Glob("testdata/prometheus-operator-crd/*.yaml")
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no CRDs in testdata/prometheus-operator-crd: %v", err)
	}
	for _, file := range files {
		if err := s.installCRD(file); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
	}
	return nil
}

// installCRD creates the CRD of a file and waits until it is served.
func (s *KubeAPIServer) installCRD(file string) error {
	ctx := context.Background()
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	crd := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(data, &crd.Object); err != nil {
		return err
	}
	if _, err := s.Dynamic.Resource(crdResource).Create(ctx, crd, metav1.CreateOptions{}); err != nil {
		return err
	}
	plural, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "plural")
	group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	version, _, _ := unstructured.NestedString(versions[0].(map[string]any), "name")
	gvr := schema.GroupVersionResource{Group: group, Version: version, Resource: plural}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := s.Dynamic.Resource(gvr).List(ctx, metav1.ListOptions{Limit: 1})
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("CRD %s not served: %w", crd.GetName(), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Unique returns a name never returned before by this test binary: kind, a number and the test's name.
func (c *KubeCluster) Unique(kind string) string {
	name := fmt.Sprintf("%s%d-%s", kind, kubeNames.Add(1), strings.Trim(kubeNameInvalid.ReplaceAllString(strings.ToLower(c.t.Name()), "-"), "-"))
	return strings.TrimRight(name[:min(len(name), 63)], "-")
}

var (
	kubeNames       atomic.Int64
	kubeNameInvalid = regexp.MustCompile(`[^a-z0-9]+`)
)

// Namespace creates a namespace of a name never used before in this API server (a deleted namespace
// never goes: no controller finishes it).
func (c *KubeCluster) Namespace() string {
	c.t.Helper()
	name := c.Unique("ns")
	_, err := c.Client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	require.NoError(c.t, err)
	return name
}

// Apply creates objects, or updates those of the same namespace and name; a Pod's or Node's status is
// written too, as a kubelet would. Each object becomes what the API server stored (its UID, a Service's
// cluster IP).
func (c *KubeCluster) Apply(objects ...runtime.Object) {
	c.t.Helper()
	for _, obj := range objects {
		stored, err := c.apply(obj.DeepCopyObject())
		require.NoError(c.t, err, "%T", obj)
		reflect.ValueOf(obj).Elem().Set(reflect.ValueOf(stored).Elem())
	}
}

// Delete deletes an object at once (a pod on a node would wait for its kubelet otherwise).
func (c *KubeCluster) Delete(obj runtime.Object) {
	c.t.Helper()
	m, err := meta.Accessor(obj)
	require.NoError(c.t, err)
	ctx, opts := context.Background(), metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))}
	core, ns, name := c.Client.CoreV1(), m.GetNamespace(), m.GetName()
	switch obj.(type) {
	case *corev1.Pod:
		err = core.Pods(ns).Delete(ctx, name, opts)
	case *corev1.Service:
		err = core.Services(ns).Delete(ctx, name, opts)
	case *corev1.Endpoints: //nolint:staticcheck // what Prometheus' role endpoints watches
		err = core.Endpoints(ns).Delete(ctx, name, opts)
	case *corev1.Node:
		err = core.Nodes().Delete(ctx, name, opts)
	case *discoveryv1.EndpointSlice:
		err = c.Client.DiscoveryV1().EndpointSlices(ns).Delete(ctx, name, opts)
	case *networkingv1.Ingress:
		err = c.Client.NetworkingV1().Ingresses(ns).Delete(ctx, name, opts)
	default:
		err = fmt.Errorf("no delete for %T", obj)
	}
	require.NoError(c.t, err)
}

func (c *KubeCluster) apply(obj runtime.Object) (runtime.Object, error) {
	ctx := context.Background()
	core := c.Client.CoreV1()
	switch o := obj.(type) {
	case *corev1.Pod:
		pods := core.Pods(o.Namespace)
		status := o.Status
		got, err := upsert(ctx, o, pods.Get, pods.Create, pods.Update)
		if err != nil {
			return nil, err
		}
		got.Status = status
		return pods.UpdateStatus(ctx, got, metav1.UpdateOptions{})
	case *corev1.Node:
		nodes := core.Nodes()
		status := o.Status
		got, err := upsert(ctx, o, nodes.Get, nodes.Create, nodes.Update)
		if err != nil {
			return nil, err
		}
		got.Status = status
		return nodes.UpdateStatus(ctx, got, metav1.UpdateOptions{})
	case *corev1.Service:
		services := core.Services(o.Namespace)
		return upsert(ctx, o, services.Get, services.Create, services.Update)
	case *corev1.Endpoints: //nolint:staticcheck // see Delete
		endpoints := core.Endpoints(o.Namespace)
		return upsert(ctx, o, endpoints.Get, endpoints.Create, endpoints.Update)
	case *discoveryv1.EndpointSlice:
		slices := c.Client.DiscoveryV1().EndpointSlices(o.Namespace)
		return upsert(ctx, o, slices.Get, slices.Create, slices.Update)
	case *networkingv1.Ingress:
		ingresses := c.Client.NetworkingV1().Ingresses(o.Namespace)
		return upsert(ctx, o, ingresses.Get, ingresses.Create, ingresses.Update)
	}
	return nil, fmt.Errorf("no apply for %T", obj)
}

// upsert creates obj, or updates the one of its name, and returns what the API server stored.
func upsert[T interface {
	metav1.Object
	runtime.Object
}](ctx context.Context, obj T,
	get func(context.Context, string, metav1.GetOptions) (T, error),
	create func(context.Context, T, metav1.CreateOptions) (T, error),
	update func(context.Context, T, metav1.UpdateOptions) (T, error),
) (T, error) {
	old, err := get(ctx, obj.GetName(), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return create(ctx, obj, metav1.CreateOptions{})
	case err != nil:
		return old, err
	}
	obj.SetResourceVersion(old.GetResourceVersion())
	return update(ctx, obj, metav1.UpdateOptions{})
}

// WriteKubeconfig writes a kubeconfig file that reaches the API server with its CA and token.
func (a kubernetesAccess) WriteKubeconfig(t testing.TB) string {
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(path, fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: robot
  user:
    token: %s
contexts:
- name: test
  context:
    cluster: test
    user: robot
current-context: test
`, a.URL, a.CAFile, a.Token), 0o600))
	return path
}

// PodNet is a network namespace joined to this one by a veth pair, whose addresses (10.X.Y.2 and up, in
// a /24 picked at random) stand for pods and nodes: the API server refuses loopback endpoint addresses,
// and these are reached from the test process through the veth.
type PodNet struct {
	*NetNS
	prefix string
	next   int
}

// NewPodNet creates the namespace and its link; both go when the test ends.
func NewPodNet(t testing.TB) *PodNet {
	t.Helper()
	ns := NewNetNS(t)
	// The host's end of the pair is named after the namespace and goes with it.
	host, inside := ns.Name+"h", "eth0"
	var err error
	for range 5 {
		prefix := fmt.Sprintf("10.%d.%d", 128+randByte()%120, randByte())
		if routedHere(prefix + ".1") {
			err = fmt.Errorf("%s.0/24 is routed here", prefix)
			continue
		}
		if err = ipCommands(
			[]string{"link", "add", host, "type", "veth", "peer", "name", inside, "netns", ns.Name},
			[]string{"addr", "add", prefix + ".1/24", "dev", host},
			[]string{"link", "set", host, "up"},
			[]string{"-n", ns.Name, "link", "set", inside, "up"},
		); err == nil {
			return &PodNet{NetNS: ns, prefix: prefix, next: 2}
		}
		_ = exec.Command("ip", "link", "del", host).Run()
	}
	t.Fatalf("a veth pair into %s: %v", ns.Name, err)
	return nil
}

// routedHere tells whether the machine reaches an address by a route of its own, not by its default
// route: a network that is not ours to shadow.
func routedHere(addr string) bool {
	out, _ := exec.Command("ip", "-4", "route", "show", "match", addr).Output()
	for _, route := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if route != "" && !strings.HasPrefix(route, "default") {
			return true
		}
	}
	return false
}

func randByte() int {
	var b [1]byte
	_, _ = rand.Read(b[:])
	return int(b[0])
}

func ipCommands(commands ...[]string) error {
	for _, args := range commands {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

// IP adds an address of its own to the namespace's end of the link.
func (n *PodNet) IP(t testing.TB) string {
	t.Helper()
	ip := fmt.Sprintf("%s.%d", n.prefix, n.next)
	n.next++
	require.NoError(t, ipCommands([]string{"-n", n.Name, "addr", "add", ip + "/24", "dev", "eth0"}))
	return ip
}

// Exporter serves an exporter like StartExporter on port 9100 of a new address of the namespace. Its
// Requests are not counted (it runs in a child process).
func (n *PodNet) Exporter(t testing.TB, name string) *Exporter {
	t.Helper()
	addr := net.JoinHostPort(n.IP(t), "9100")
	StartExporterIn(t, n.NetNS, name, addr)
	return &Exporter{Addr: addr}
}
