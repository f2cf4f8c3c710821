//go:build !remove_all_sd || enable_kubernetes_sd

package discovery

import (
	"bytes"
	"context"
	"log/slog"
	"net/url"
	"testing"
	"time"

	"github.com/influxdata/telegraf/config"
	promconfig "github.com/prometheus/common/config"
	"github.com/prometheus/prometheus/discovery/kubernetes"
	"github.com/stretchr/testify/require"

	"github.com/discovering-prometheus/discovering-prometheus/internal/httpconfig"
)

func kubernetesSD(t *testing.T, k *Kubernetes) *kubernetes.SDConfig {
	t.Helper()
	cfg, err := k.SDConfig()
	require.NoError(t, err)
	return cfg.(kubernetesSDConfig).SDConfig
}

func mustURL(t *testing.T, raw string) promconfig.URL {
	u, err := url.Parse(raw)
	require.NoError(t, err)
	return promconfig.URL{URL: u}
}

// A section pasted from Kapacitor: its namespace is honoured, "endpoint" is Prometheus' "endpoints", the
// first API server is used.
func TestKubernetesKapacitorKeys(t *testing.T) {
	got := kubernetesSD(t, &Kubernetes{
		APIServers: []string{"https://10.0.0.1:6443", "https://10.0.0.2:6443"},
		Token:      config.NewSecret([]byte("tok")),
		CAPath:     "/etc/k8s/ca.crt",
		Namespace:  "monitoring",
		Resource:   "endpoint",
	})
	want := &kubernetes.SDConfig{
		APIServer:          mustURL(t, "https://10.0.0.1:6443"),
		Role:               kubernetes.RoleEndpoint,
		HTTPClientConfig:   promconfig.DefaultHTTPClientConfig,
		NamespaceDiscovery: kubernetes.NamespaceDiscovery{Names: []string{"monitoring"}},
	}
	want.HTTPClientConfig.TLSConfig.CAFile = "/etc/k8s/ca.crt"
	want.HTTPClientConfig.Authorization = &promconfig.Authorization{Type: "Bearer", Credentials: "tok"}
	require.Equal(t, want, got)
}

func TestKubernetesPrometheusKeys(t *testing.T) {
	got := kubernetesSD(t, &Kubernetes{
		APIServers:      []string{"https://k8s.example.com"},
		Role:            "pod",
		Resource:        "pod",
		Namespaces:      []string{"a", "b"},
		Namespace:       "b",
		Selectors:       []KubernetesSelector{{Role: "pod", Label: "app=web", Field: "spec.nodeName=n1"}, {Role: "node", Label: "zone in (z1,z2)"}},
		BearerTokenFile: "/var/run/token",
		TLS:             httpconfig.TLS{CA: "/ca.pem", Cert: "/c.pem", Key: "/k.pem", ServerName: "k8s", InsecureSkipVerify: true},
		AttachMetadata:  KubernetesAttachMetadata{Node: true, Namespace: true, Deployment: true, Job: true, CronJob: true},
	})
	want := &kubernetes.SDConfig{
		APIServer:          mustURL(t, "https://k8s.example.com"),
		Role:               kubernetes.RolePod,
		HTTPClientConfig:   promconfig.DefaultHTTPClientConfig,
		NamespaceDiscovery: kubernetes.NamespaceDiscovery{Names: []string{"a", "b"}},
		Selectors: []kubernetes.SelectorConfig{
			{Role: kubernetes.RolePod, Label: "app=web", Field: "spec.nodeName=n1"},
			{Role: kubernetes.RoleNode, Label: "zone in (z1,z2)"},
		},
		AttachMetadata: kubernetes.AttachMetadataConfig{Node: true, Namespace: true,
			PodMetadataConfig: kubernetes.PodMetadataConfig{Deployment: true, Job: true, CronJob: true}},
	}
	want.HTTPClientConfig.TLSConfig = promconfig.TLSConfig{CAFile: "/ca.pem", CertFile: "/c.pem", KeyFile: "/k.pem", ServerName: "k8s", InsecureSkipVerify: true}
	want.HTTPClientConfig.Authorization = &promconfig.Authorization{Type: "Bearer", CredentialsFile: "/var/run/token"}
	require.Equal(t, want, got)

	basic := kubernetesSD(t, &Kubernetes{APIServers: []string{"http://127.0.0.1:8001"}, Role: "node",
		Auth: httpconfig.Auth{Username: "u", Password: config.NewSecret([]byte("p"))}})
	require.Equal(t, &promconfig.BasicAuth{Username: "u", Password: "p"}, basic.HTTPClientConfig.BasicAuth)
	require.Nil(t, basic.HTTPClientConfig.Authorization)
}

// In cluster and through a kubeconfig file, the server and credentials come from elsewhere.
func TestKubernetesInClusterAndKubeconfig(t *testing.T) {
	got := kubernetesSD(t, &Kubernetes{InCluster: true, Role: "service", OwnNamespace: true, Namespaces: []string{"x"}})
	require.Equal(t, &kubernetes.SDConfig{
		Role:               kubernetes.RoleService,
		HTTPClientConfig:   promconfig.DefaultHTTPClientConfig,
		NamespaceDiscovery: kubernetes.NamespaceDiscovery{Names: []string{"x"}, IncludeOwnNamespace: true},
	}, got)

	got = kubernetesSD(t, &Kubernetes{KubeconfigFile: "/home/u/.kube/config", Role: "ingress"})
	require.Equal(t, &kubernetes.SDConfig{
		Role:             kubernetes.RoleIngress,
		KubeConfig:       "/home/u/.kube/config",
		HTTPClientConfig: promconfig.DefaultHTTPClientConfig,
	}, got)
}

func TestKubernetesValidation(t *testing.T) {
	server := []string{"https://k8s:6443"}
	token := config.NewSecret([]byte("t"))
	for _, tc := range []struct {
		k    Kubernetes
		want string
	}{
		{Kubernetes{APIServers: server}, "role: required (resource is Kapacitor's name for it): pod, service, endpoints, endpointslice, node or ingress"},
		{Kubernetes{APIServers: server, Role: "deployment"}, `role: "deployment" is not one of pod, service, endpoints (or endpoint), endpointslice, node, ingress`},
		{Kubernetes{APIServers: server, Resource: "pods"}, `resource: "pods" is not one of pod, service, endpoints (or endpoint), endpointslice, node, ingress`},
		{Kubernetes{APIServers: server, Role: "pod", Resource: "node"}, `role: "pod" differs from resource "node"; resource is Kapacitor's name for role, set one`},
		{Kubernetes{APIServers: server, Role: "pod", Namespaces: []string{"a", ""}}, "namespaces[1]: empty"},
		{Kubernetes{APIServers: server, Role: "pod", Selectors: []KubernetesSelector{{Label: "a=b"}}}, `selectors[0]: role: "" is not one of`},
		{Kubernetes{APIServers: server, Role: "pod", Selectors: []KubernetesSelector{{Role: "service"}}}, "selectors[0]: role: role pod watches only [pod node]"},
		{Kubernetes{APIServers: server, Role: "pod", Selectors: []KubernetesSelector{{Role: "pod"}, {Role: "pod"}}}, "selectors[1]: role: pod has a selector already"},
		{Kubernetes{APIServers: server, Role: "pod", Selectors: []KubernetesSelector{{Role: "pod", Label: "a in (b"}}}, "selectors[0]: label: "},
		{Kubernetes{APIServers: server, Role: "pod", Selectors: []KubernetesSelector{{Role: "pod", Field: "x"}}}, "selectors[0]: field: "},
		{Kubernetes{APIServers: server, Role: "pod", OwnNamespace: true}, "own-namespace: needs in-cluster = true"},
		{Kubernetes{InCluster: true, Role: "pod", APIServers: server, Token: token, CAPath: "/ca", Namespace: "n"},
			"in-cluster: cannot be combined with api-servers, token, ca-path, namespace; the pod's service account is used"},
		{Kubernetes{InCluster: true, Role: "pod", KubeconfigFile: "/k"}, "in-cluster: cannot be combined with kubeconfig-file"},
		{Kubernetes{KubeconfigFile: "/k", Role: "pod", APIServers: server, TLS: httpconfig.TLS{InsecureSkipVerify: true}},
			"kubeconfig-file: cannot be combined with api-servers, insecure-skip-verify; the kubeconfig file holds the server and credentials"},
		{Kubernetes{Role: "pod"}, "api-servers: at least one server URL is required, unless in-cluster = true or kubeconfig-file is set"},
		{Kubernetes{Role: "pod", APIServers: []string{"https://a", "k8s:6443"}}, `api-servers[1]: "k8s:6443" is not an http or https URL`},
		{Kubernetes{Role: "pod", APIServers: server, Token: token, BearerTokenFile: "/t"}, "token, bearer-token and bearer-token-file exclude each other"},
		{Kubernetes{Role: "pod", APIServers: server, Token: token, Auth: httpconfig.Auth{BearerToken: token}}, "token, bearer-token and bearer-token-file exclude each other"},
		{Kubernetes{Role: "pod", APIServers: server, BearerTokenFile: "/t", Auth: httpconfig.Auth{Username: "u"}}, "username/password and a bearer token exclude each other"},
		{Kubernetes{Role: "pod", APIServers: server, CAPath: "/a", TLS: httpconfig.TLS{CA: "/b"}}, "ca-path and ssl-ca exclude each other"},
		{Kubernetes{Role: "pod", APIServers: server, TLS: httpconfig.TLS{Cert: "/c"}}, "ssl-cert and ssl-key must be given together"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			_, err := tc.k.SDConfig()
			require.ErrorContains(t, err, tc.want)
		})
	}

	// Validate names the section and the id.
	_, err := Validate((&Sections{Kubernetes: []*Kubernetes{{Common: Common{ID: "k"}, APIServers: server}}}).Providers())
	require.EqualError(t, err, `kubernetes "k": role: required (resource is Kapacitor's name for it): pod, service, endpoints, endpointslice, node or ingress`)
}

// A klog record that belongs to no failing discoverer goes to the handler of SetKubernetesClientLog, whole.
func TestKubeLogsOtherRecordsGoToTheClientLog(t *testing.T) {
	var buf bytes.Buffer
	prev := kubeClientLog.Load()
	SetKubernetesClientLog(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	defer func() {
		if prev != nil {
			SetKubernetesClientLog(*prev)
		} else {
			kubeClientLog.Store(nil)
		}
	}()

	rec := slog.NewRecord(time.Now(), slog.LevelWarn, "Use tokens from the TokenRequest API", 0)
	rec.AddAttrs(slog.String("reason", "deprecated"))
	require.NoError(t, kubeLogs.Handle(context.Background(), rec))
	require.Equal(t, `level=WARN msg="Use tokens from the TokenRequest API" reason=deprecated`+"\n", buf.String())
}

// Prometheus' SD watches one API server: of several, the warning names the key, the one used and the
// others (their passwords masked); one server, or a section disabled, warns of nothing.
func TestKubernetesSeveralAPIServersWarn(t *testing.T) {
	off := false
	s := &Sections{Kubernetes: []*Kubernetes{
		{Common: Common{ID: "k"}, Role: "pod", APIServers: []string{"https://10.0.0.1:6443", "https://u:s3cret@10.0.0.2:6443", "https://10.0.0.3:6443"}},
		{Common: Common{ID: "one"}, Role: "pod", APIServers: []string{"https://10.0.0.1:6443"}},
		{Common: Common{ID: "off", Enabled: &off}, Role: "pod", APIServers: []string{"https://10.0.0.1:6443", "https://10.0.0.2:6443"}},
	}}
	_, err := Validate(s.Providers())
	require.NoError(t, err)
	require.Equal(t, []string{`kubernetes "k": api-servers: Prometheus' Kubernetes discovery watches one API server: ` +
		`"https://10.0.0.1:6443" is used, "https://u:xxxxx@10.0.0.2:6443", "https://10.0.0.3:6443" not`}, Warnings(s.Providers()))
}
