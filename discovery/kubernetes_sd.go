//go:build !remove_all_sd || enable_kubernetes_sd

package discovery

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	promconfig "github.com/prometheus/common/config"
	promdiscovery "github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/kubernetes"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/discovering-prometheus/discovering-prometheus/internal/httpconfig"
)

// kubernetesSelectable lists, for each role, the roles whose objects its informers watch and may filter,
// as Prometheus' own configuration check does.
var kubernetesSelectable = map[kubernetes.Role][]kubernetes.Role{
	kubernetes.RolePod:           {kubernetes.RolePod, kubernetes.RoleNode},
	kubernetes.RoleService:       {kubernetes.RoleService},
	kubernetes.RoleEndpoint:      {kubernetes.RolePod, kubernetes.RoleService, kubernetes.RoleEndpoint},
	kubernetes.RoleEndpointSlice: {kubernetes.RolePod, kubernetes.RoleService, kubernetes.RoleEndpointSlice},
	kubernetes.RoleNode:          {kubernetes.RoleNode},
	kubernetes.RoleIngress:       {kubernetes.RoleIngress},
}

// kubernetesRole accepts Prometheus' role names and Kapacitor's "endpoint", which Kapacitor passed on
// unchanged, so that Prometheus never matched it.
func kubernetesRole(name string) (kubernetes.Role, error) {
	role := kubernetes.Role(name)
	if role == "endpoint" {
		role = kubernetes.RoleEndpoint
	}
	if _, ok := kubernetesSelectable[role]; !ok {
		return "", fmt.Errorf("%q is not one of pod, service, endpoints (or endpoint), endpointslice, node, ingress", name)
	}
	return role, nil
}

// SDConfig implements Mapper.
func (k *Kubernetes) SDConfig() (promdiscovery.Config, error) {
	role, err := k.role()
	if err != nil {
		return nil, err
	}
	cfg := &kubernetes.SDConfig{
		Role:             role,
		HTTPClientConfig: promconfig.DefaultHTTPClientConfig,
		NamespaceDiscovery: kubernetes.NamespaceDiscovery{
			Names:               slices.Clone(k.Namespaces),
			IncludeOwnNamespace: k.OwnNamespace,
		},
		AttachMetadata: kubernetes.AttachMetadataConfig{
			Node:      k.AttachMetadata.Node,
			Namespace: k.AttachMetadata.Namespace,
			PodMetadataConfig: kubernetes.PodMetadataConfig{
				Deployment: k.AttachMetadata.Deployment,
				Job:        k.AttachMetadata.Job,
				CronJob:    k.AttachMetadata.CronJob,
			},
		},
	}
	for i, ns := range k.Namespaces {
		if ns == "" {
			return nil, fmt.Errorf("namespaces[%d]: empty", i)
		}
	}
	// Kapacitor read namespace but never passed it on; here it is one more namespace to watch.
	if k.Namespace != "" && !slices.Contains(cfg.NamespaceDiscovery.Names, k.Namespace) {
		cfg.NamespaceDiscovery.Names = append(cfg.NamespaceDiscovery.Names, k.Namespace)
	}
	if cfg.Selectors, err = k.selectors(role); err != nil {
		return nil, err
	}

	if k.OwnNamespace && !k.InCluster {
		return nil, errors.New("own-namespace: needs in-cluster = true (the namespace is the pod's own)")
	}
	switch {
	case k.InCluster:
		if set := k.inClusterConflicts(); len(set) > 0 {
			return nil, fmt.Errorf("in-cluster: cannot be combined with %s; the pod's service account is used", strings.Join(set, ", "))
		}
	case k.KubeconfigFile != "":
		if set := append(k.apiServersKey(), k.httpOptions()...); len(set) > 0 {
			return nil, fmt.Errorf("kubeconfig-file: cannot be combined with %s; the kubeconfig file holds the server and credentials", strings.Join(set, ", "))
		}
		// client-go reads it whole, as Prometheus' clients read their files.
		if err := httpconfig.CheckFile("kubeconfig-file", k.KubeconfigFile); err != nil {
			return nil, err
		}
		cfg.KubeConfig = k.KubeconfigFile
	default:
		if len(k.APIServers) == 0 {
			return nil, errors.New("api-servers: at least one server URL is required, unless in-cluster = true or kubeconfig-file is set")
		}
		for i, raw := range k.APIServers {
			u, err := httpURL(fmt.Sprintf("api-servers[%d]", i), raw)
			if err != nil {
				return nil, err
			}
			// Several URLs are API servers of one cluster: Kapacitor ran one discoverer per URL, which found
			// every target once per server. The first is used; the others are only checked (and Warnings
			// says so).
			if i == 0 {
				cfg.APIServer = promconfig.URL{URL: u}
			}
		}
		if err := k.httpClient(&cfg.HTTPClientConfig); err != nil {
			return nil, err
		}
	}
	return kubernetesSDConfig{cfg}, nil
}

// Warnings implements Warner: Prometheus' SD watches one API server, so of several only the first is used.
func (k *Kubernetes) Warnings() []string {
	if k.InCluster || k.KubeconfigFile != "" || len(k.APIServers) < 2 {
		return nil // one server, or none of them used and SDConfig's error says so
	}
	others := make([]string, len(k.APIServers)-1)
	for i, raw := range k.APIServers[1:] {
		others[i] = fmt.Sprintf("%q", httpconfig.RedactURL(raw))
	}
	return []string{fmt.Sprintf("api-servers: Prometheus' Kubernetes discovery watches one API server: %q is used, %s not",
		httpconfig.RedactURL(k.APIServers[0]), strings.Join(others, ", "))}
}

func (k *Kubernetes) role() (kubernetes.Role, error) {
	var role, resource kubernetes.Role
	var err error
	if k.Role != "" {
		if role, err = kubernetesRole(k.Role); err != nil {
			return "", fmt.Errorf("role: %w", err)
		}
	}
	if k.Resource != "" {
		if resource, err = kubernetesRole(k.Resource); err != nil {
			return "", fmt.Errorf("resource: %w", err)
		}
	}
	switch {
	case role == "" && resource == "":
		return "", errors.New("role: required (resource is Kapacitor's name for it): pod, service, endpoints, endpointslice, node or ingress")
	case role != "" && resource != "" && role != resource:
		return "", fmt.Errorf("role: %q differs from resource %q; resource is Kapacitor's name for role, set one", k.Role, k.Resource)
	case role != "":
		return role, nil
	default:
		return resource, nil
	}
}

func (k *Kubernetes) selectors(role kubernetes.Role) ([]kubernetes.SelectorConfig, error) {
	var out []kubernetes.SelectorConfig
	for i, s := range k.Selectors {
		r, err := kubernetesRole(s.Role)
		if err != nil {
			return nil, fmt.Errorf("selectors[%d]: role: %w", i, err)
		}
		if !slices.Contains(kubernetesSelectable[role], r) {
			return nil, fmt.Errorf("selectors[%d]: role: role %s watches only %v", i, role, kubernetesSelectable[role])
		}
		for _, prev := range out {
			if prev.Role == r {
				return nil, fmt.Errorf("selectors[%d]: role: %s has a selector already", i, r)
			}
		}
		if _, err := labels.Parse(s.Label); err != nil {
			return nil, fmt.Errorf("selectors[%d]: label: %w", i, err)
		}
		if _, err := fields.ParseSelector(s.Field); err != nil {
			return nil, fmt.Errorf("selectors[%d]: field: %w", i, err)
		}
		out = append(out, kubernetes.SelectorConfig{Role: r, Label: s.Label, Field: s.Field})
	}
	return out, nil
}

// httpOptions names the HTTP client keys that are set: they apply to api-servers only.
func (k *Kubernetes) httpOptions() []string {
	var set []string
	for _, o := range []struct {
		key string
		set bool
	}{
		{"token", !k.Token.Empty()},
		{"bearer-token", !k.BearerToken.Empty()},
		{"bearer-token-file", k.BearerTokenFile != ""},
		{"username", k.Username != ""},
		{"password", !k.Password.Empty()},
		{"ca-path", k.CAPath != ""},
		{"ssl-ca", k.CA != ""},
		{"ssl-cert", k.Cert != ""},
		{"ssl-key", k.Key != ""},
		{"ssl-server-name", k.ServerName != ""},
		{"insecure-skip-verify", k.InsecureSkipVerify},
	} {
		if o.set {
			set = append(set, o.key)
		}
	}
	return set
}

func (k *Kubernetes) apiServersKey() []string {
	if len(k.APIServers) > 0 {
		return []string{"api-servers"}
	}
	return nil
}

// inClusterConflicts are Kapacitor's exclusions (api-servers, token, ca-path, namespace) and every other
// key that in-cluster configuration would silently ignore.
func (k *Kubernetes) inClusterConflicts() []string {
	set := append(k.apiServersKey(), k.httpOptions()...)
	if k.Namespace != "" {
		set = append(set, "namespace")
	}
	if k.KubeconfigFile != "" {
		set = append(set, "kubeconfig-file")
	}
	return set
}

func (k *Kubernetes) httpClient(c *promconfig.HTTPClientConfig) error {
	tokens := 0
	for _, set := range []bool{!k.Token.Empty(), !k.BearerToken.Empty(), k.BearerTokenFile != ""} {
		if set {
			tokens++
		}
	}
	if tokens > 1 {
		return errors.New("token, bearer-token and bearer-token-file exclude each other (token is Kapacitor's name for bearer-token)")
	}
	if tokens > 0 && (k.Username != "" || !k.Password.Empty()) {
		return errors.New("username/password and a bearer token exclude each other")
	}
	if k.CAPath != "" && k.CA != "" {
		return errors.New("ca-path and ssl-ca exclude each other (ca-path is Kapacitor's name for ssl-ca)")
	}
	if err := checkTLS(&k.TLS); err != nil {
		return err
	}
	if err := httpconfig.CheckFile("ca-path", k.CAPath); err != nil {
		return err
	}
	if err := httpconfig.CheckFile("bearer-token-file", k.BearerTokenFile); err != nil {
		return err
	}
	c.TLSConfig = k.TLS.Prometheus()
	if k.CAPath != "" {
		c.TLSConfig.CAFile = k.CAPath
	}
	if err := k.Auth.Apply(c); err != nil {
		return err
	}
	switch {
	case !k.Token.Empty():
		token, err := httpconfig.Resolve(&k.Token)
		if err != nil {
			return fmt.Errorf("token: %w", err)
		}
		c.Authorization = &promconfig.Authorization{Type: "Bearer", Credentials: token}
	case k.BearerTokenFile != "":
		c.Authorization = &promconfig.Authorization{Type: "Bearer", CredentialsFile: k.BearerTokenFile}
	}
	return c.Validate()
}

// APIAccess is how the section reaches the API server, for a client other than the discoverer's (the
// prometheus_operator table's): as a kubernetes_sd_config holds it (api_server, kubeconfig_file, the HTTP
// client; in-cluster when none is set), and as client-go's REST configuration, made as Prometheus'
// discoverer makes its own. The section's role is not needed; its errors name the key.
func (k *Kubernetes) APIAccess() (*kubernetes.SDConfig, *rest.Config, error) {
	withRole := *k
	withRole.Role, withRole.Resource = string(kubernetes.RoleEndpointSlice), ""
	cfg, err := withRole.SDConfig()
	if err != nil {
		return nil, nil, err
	}
	sd := cfg.(kubernetesSDConfig).SDConfig
	var rc *rest.Config
	switch {
	case sd.KubeConfig != "":
		rc, err = clientcmd.BuildConfigFromFlags("", sd.KubeConfig)
	case sd.APIServer.URL == nil:
		rc, err = rest.InClusterConfig()
	default:
		var rt http.RoundTripper
		if rt, err = promconfig.NewRoundTripperFromConfig(sd.HTTPClientConfig, "kubernetes"); err == nil {
			rc = &rest.Config{Host: sd.APIServer.String(), Transport: rt}
		}
	}
	if err != nil {
		return nil, nil, err
	}
	return sd, rc, nil
}
