package operator

import (
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	promconfig "github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery/kubernetes"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	"github.com/prometheus/prometheus/util/strutil"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
	k8syaml "sigs.k8s.io/yaml"
)

// mapStore is a Store of the Secrets and ConfigMaps of the operator's tests, by namespace/name/key.
type mapStore map[string]string

func (s mapStore) SecretKey(namespace string, sel corev1.SecretKeySelector) (string, error) {
	return s.get("secret", namespace, sel.Name, sel.Key)
}

func (s mapStore) ConfigMapKey(namespace string, sel corev1.ConfigMapKeySelector) (string, error) {
	return s.get("configmap", namespace, sel.Name, sel.Key)
}

func (s mapStore) get(kind, namespace, name, key string) (string, error) {
	if v, ok := s[kind+"/"+namespace+"/"+name+"/"+key]; ok {
		return v, nil
	}
	return "", fmt.Errorf("%s %s/%s has no key %q", kind, namespace, name, key)
}

// The stores of the operator's tests (its assets.NewTestStoreBuilder), with the CA that its
// service_monitor_with_oauth2 case names but leaves out (the operator writes a file name for it).
var goldenStore = mapStore{
	"configmap/default/oauth2/client_id":   "test_client_id",
	"secret/default/oauth2/client_secret":  "test_client_secret",
	"secret/default/foo/proxy-header":      "value",
	"secret/default/tls/ca2":               "ca2 PEM",
	"secret/default/secret/Username":       "kube-admin",
	"secret/default/secret/Password":       "password",
	"secret/default/basic-auth/username":   "user",
	"secret/default/basic-auth/password":   "top-secret",
	"secret/default/bearer/token":          "bearer-token",
	"secret/default/missing-key/something": "x",
}

const oauth2YAML = `
          oauth2:
            clientId: {configMap: {name: oauth2, key: client_id}}
            clientSecret: {name: oauth2, key: client_secret}
            tokenUrl: http://test.url
            scopes: [scope 1, scope 2]
            endpointParams: {param1: value1, param2: value2}
            tlsConfig:
              insecureSkipVerify: true
              ca: {secret: {name: tls, key: ca2}}
            proxyUrl: http://no-proxy.com
            noProxy: 0.0.0.0
            proxyFromEnvironment: false
            proxyConnectHeader:
              header: [{name: foo, key: proxy-header}]`

// roleSelected is a monitor of the operator's TestServiceMonitorSelectors and TestPodMonitorSelectors: its
// selector given to the kubernetes_sd_config (selectorMechanism RoleSelector).
func roleSelected(kind, selector string) string {
	endpoints := "endpoints"
	if kind == "PodMonitor" {
		endpoints = "podMetricsEndpoints"
	}
	return fmt.Sprintf("kind: %s\nmetadata: {name: default%s, namespace: default}\nspec:\n  selectorMechanism: RoleSelector\n"+
		"  selector: %s\n  %s: [{port: web, interval: 30s}]", kind, kind, selector, endpoints)
}

// The cases are tests of the operator's pkg/prometheus/promcfg_test.go (named as its golden files), their
// monitors written as the objects a user applies.
var goldenCases = []struct {
	golden, role, monitor string
}{
	{"MatchExpressionsServiceMonitor", RoleEndpoints, `
kind: ServiceMonitor
metadata: {name: test, namespace: default}
spec:
  selector:
    matchExpressions: [{key: alpha, operator: In, values: [beta, gamma]}]
  endpoints: [{port: web, interval: 30s}]`},
	{"ServiceMonitorObjectWithMatchLabelSelector", RoleEndpoints, roleSelected("ServiceMonitor", "{matchLabels: {group: group1}}")},
	{"ServiceMonitorObjectWithEndpointSliceSelectorAndMatchLabelSelector", RoleEndpointSlice, roleSelected("ServiceMonitor", "{matchLabels: {group: group1}}")},
	{"ServiceMonitorObjectWithSelectorAndMatchExpressionSelector", RoleEndpointSlice, roleSelected("ServiceMonitor", "{matchLabels: {group: group1}, matchExpressions: [{key: group, operator: In, values: [group2]}]}")},
	{"PodMonitorObjectWithMatchLabelSelector", "", roleSelected("PodMonitor", "{matchLabels: {group: group1}}")},
	{"PodMonitorObjectWithSelectorAndMatchExpressionSelector", "", roleSelected("PodMonitor", "{matchLabels: {group: group1}, matchExpressions: [{key: group, operator: In, values: [group2]}, {key: groupb, operator: DoesNotExist}]}")},
	{"TargetLabels", RoleEndpoints, `
kind: ServiceMonitor
metadata: {name: testservicemonitor1, namespace: default}
spec:
  targetLabels: [example, env]
  endpoints: [{port: web, interval: 30s}]`},
	{"SettingHonorTimestampsInServiceMonitor", RoleEndpoints, `
kind: ServiceMonitor
metadata: {name: testservicemonitor1, namespace: default}
spec:
  targetLabels: [example, env]
  endpoints: [{honorTimestamps: false, port: web, interval: 30s}]`},
	{"EmptyEndpointPorts", RoleEndpoints, `
kind: ServiceMonitor
metadata: {name: test, namespace: default}
spec:
  selector: {matchLabels: {foo: bar}}
  endpoints: [{}]`},
	{"PodMonitorPhaseFilter", "", `
kind: PodMonitor
metadata: {name: testpodmonitor1, namespace: default}
spec:
  podMetricsEndpoints: [{filterRunning: false, port: test}]`},
	{"PodTargetLabelsFromPodMonitor", "", `
kind: PodMonitor
metadata: {name: testpodmonitor1, namespace: default}
spec:
  podTargetLabels: [example, env]
  podMetricsEndpoints: [{port: web, interval: 30s}]`},
	{"service_monitor_with_oauth2", RoleEndpoints, `
kind: ServiceMonitor
metadata: {name: testservicemonitor1, namespace: default}
spec:
  endpoints:
        - port: web` + oauth2YAML},
	{"pod_monitor_with_oauth2", "", `
kind: PodMonitor
metadata: {name: testpodmonitor1, namespace: default}
spec:
  podMetricsEndpoints:
        - port: web` + oauth2YAML},
}

// The jobs generated for the operator's own test cases are those of its golden files, less what belongs
// to the operator's deployment (see goldenJobs); each is a valid Prometheus scrape_config.
func TestGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.golden, func(t *testing.T) {
			g := &Generator{Role: tc.role, Store: goldenStore}
			got, err := generate(t, g, tc.monitor)
			require.NoError(t, err)
			require.Equal(t, goldenJobs(t, tc.golden+".golden", goldenStore), got)
		})
	}
}

// generate returns the jobs of a monitor as generic YAML values, after checking that Prometheus reads
// each as a scrape_config.
func generate(t *testing.T, g *Generator, monitor string) ([]any, error) {
	var kind struct{ Kind string }
	if err := k8syaml.Unmarshal([]byte(monitor), &kind); err != nil {
		return nil, err
	}
	var data []byte
	var err error
	switch kind.Kind {
	case "ServiceMonitor":
		var m monitoringv1.ServiceMonitor
		if err = k8syaml.UnmarshalStrict([]byte(monitor), &m); err == nil {
			data, err = g.ServiceMonitorYAML(&m)
		}
	case "PodMonitor":
		var m monitoringv1.PodMonitor
		if err = k8syaml.UnmarshalStrict([]byte(monitor), &m); err == nil {
			data, err = g.PodMonitorYAML(&m)
		}
	default:
		err = fmt.Errorf("kind %q", kind.Kind)
	}
	if err != nil {
		return nil, err
	}
	return genericYAML(t, data), nil
}

// generic is jobs as generic YAML values, as a golden file's are read.
func generic(t *testing.T, jobs []yaml.MapSlice) []any {
	data, err := yaml.Marshal(jobs)
	require.NoError(t, err)
	return genericYAML(t, data)
}

// genericYAML is YAML text as generic values.
func genericYAML(t *testing.T, data []byte) []any {
	var out []any
	require.NoError(t, yaml.Unmarshal(data, &out))
	return out
}

// goldenJobs reads the scrape_configs of a golden file of the operator, less its sharding rules (the
// relabelings on __tmp_hash: here the cluster table shards) and with its TLS asset files
// (/etc/prometheus/certs/<i>_<namespace>_<secret>_<key>) inline, read from store.
func goldenJobs(t *testing.T, name string, store Store) []any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	var golden struct {
		ScrapeConfigs []map[any]any `yaml:"scrape_configs"`
	}
	require.NoError(t, yaml.Unmarshal(data, &golden))
	var out []any
	for _, job := range golden.ScrapeConfigs {
		var kept []any
		rules, _ := job["relabel_configs"].([]any)
		for _, rule := range rules {
			if !strings.Contains(fmt.Sprint(rule), "__tmp_hash") {
				kept = append(kept, rule)
			}
		}
		job["relabel_configs"] = kept
		inlineTLSAssets(t, job, store)
		out = append(out, job)
	}
	return out
}

func inlineTLSAssets(t *testing.T, v any, store Store) {
	m, ok := v.(map[any]any)
	if !ok {
		if list, ok := v.([]any); ok {
			for _, item := range list {
				inlineTLSAssets(t, item, store)
			}
		}
		return
	}
	for k, item := range m {
		file, isFile := item.(string)
		key, asset := strings.CutSuffix(fmt.Sprint(k), "_file")
		if isFile && asset && strings.HasPrefix(file, "/etc/prometheus/certs/") {
			parts := strings.Split(path.Base(file), "_")
			require.Len(t, parts, 4, file)
			value, err := store.SecretKey(parts[1], corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: parts[2]}, Key: parts[3]})
			require.NoError(t, err)
			delete(m, k)
			m[key] = value
			continue
		}
		inlineTLSAssets(t, item, store)
	}
}

// The kubernetes_sd_configs of the operator's TestNamespaceSetCorrectly: a monitor's namespaceSelector.
func TestNamespaceSelectorGolden(t *testing.T) {
	for golden, monitor := range map[string]string{
		"namespaces_from_MatchNames_are_returned_instead_of_the_current_namespace": `
spec: {namespaceSelector: {matchNames: [test1, test2]}, attachMetadata: {node: true}}`,
		"Any_returns_an_empty_list_instead_of_the_current_namespace": `
spec: {namespaceSelector: {any: true}}`,
		"Any_takes_precedence_over_MatchNames": `
spec: {namespaceSelector: {any: true, matchNames: [foo, bar]}}`,
	} {
		t.Run(golden, func(t *testing.T) {
			var m monitoringv1.ServiceMonitor
			require.NoError(t, k8syaml.UnmarshalStrict([]byte(monitor), &m))
			m.Namespace = "default"
			spec := m.Spec
			job := yaml.MapSlice{{Key: "job_name", Value: "k8s-sd-test"},
				kubernetesSD(RoleEndpoints, spec.NamespaceSelector, m.Namespace, spec.AttachMetadata, spec.Selector, spec.SelectorMechanism)}
			data, err := yaml.Marshal(yaml.MapSlice{{Key: "scrape_configs", Value: []yaml.MapSlice{job}}})
			require.NoError(t, err)
			want, err := os.ReadFile(filepath.Join("testdata", golden+".golden"))
			require.NoError(t, err)
			require.Equal(t, string(want), string(data))
		})
	}
}

// A monitor's selector, as relabeling rules, keeps exactly the targets of the services (or pods) that
// Kubernetes' own label selector selects.
func TestSelectorRelabelings(t *testing.T) {
	selector := metav1.LabelSelector{
		MatchLabels: map[string]string{"app.kubernetes.io/name": "web"},
		MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"front", "back"}},
			{Key: "env", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"dev"}},
			{Key: "team", Operator: metav1.LabelSelectorOpExists},
			{Key: "legacy", Operator: metav1.LabelSelectorOpDoesNotExist},
		},
	}
	k8sSelector, err := metav1.LabelSelectorAsSelector(&selector)
	require.NoError(t, err)
	g := &Generator{}
	sm, err := g.ServiceMonitor(&monitoringv1.ServiceMonitor{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "sm"},
		Spec:       monitoringv1.ServiceMonitorSpec{Selector: selector, Endpoints: []monitoringv1.Endpoint{{Port: "http"}}},
	})
	require.NoError(t, err)
	pm, err := g.PodMonitor(&monitoringv1.PodMonitor{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "pm"},
		Spec:       monitoringv1.PodMonitorSpec{Selector: selector, PodMetricsEndpoints: []monitoringv1.PodMetricsEndpoint{{Port: ptr.To("http")}}},
	})
	require.NoError(t, err)
	base := map[string]string{"app.kubernetes.io/name": "web", "tier": "front", "env": "prod", "team": "a"}
	variants := []map[string]string{base}
	for k := range base {
		without := maps.Clone(base)
		delete(without, k)
		variants = append(variants, without)
	}
	for _, change := range []map[string]string{
		{"app.kubernetes.io/name": "db"}, {"tier": "middle"}, {"tier": "back"}, {"env": "dev"}, {"team": ""}, {"legacy": "yes"}, {"legacy": ""},
	} {
		v := maps.Clone(base)
		maps.Copy(v, change)
		variants = append(variants, v)
	}
	for _, objectLabels := range variants {
		want := k8sSelector.Matches(k8slabels.Set(objectLabels))
		for kind, job := range map[string]*promconfig.ScrapeConfig{"service": sm[0], "pod": pm[0]} {
			b := labels.NewBuilder(labels.FromStrings(
				"__address__", "10.0.0.1:80", "__meta_kubernetes_namespace", "ns", "__meta_kubernetes_pod_phase", "Running",
				"__meta_kubernetes_endpointslice_port_name", "http", "__meta_kubernetes_pod_container_port_name", "http"))
			for k, v := range objectLabels {
				b.Set("__meta_kubernetes_"+kind+"_label_"+strutil.SanitizeLabelName(k), v)
				b.Set("__meta_kubernetes_"+kind+"_labelpresent_"+strutil.SanitizeLabelName(k), "true")
			}
			kept := relabel.ProcessBuilder(b, job.RelabelConfigs...)
			require.Equal(t, want, kept, "%s labels %v", kind, objectLabels)
		}
	}
}

// A monitor whose selector is not valid (an operator the keep and drop rules cannot say, In without
// values) is refused, naming the field, as the operator refuses it: left out, the expression would select
// every service or pod of the namespace.
func TestSelectorNotValid(t *testing.T) {
	g := &Generator{}
	for _, exp := range []metav1.LabelSelectorRequirement{
		{Key: "team", Operator: "in", Values: []string{"core"}},
		{Key: "team", Operator: metav1.LabelSelectorOpIn},
	} {
		selector := metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{exp}}
		_, err := g.ServiceMonitor(&monitoringv1.ServiceMonitor{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "sm"},
			Spec:       monitoringv1.ServiceMonitorSpec{Selector: selector, Endpoints: []monitoringv1.Endpoint{{Port: "http"}}},
		})
		require.ErrorContains(t, err, "serviceMonitor/ns/sm: spec.selector: ")
		_, err = g.PodMonitor(&monitoringv1.PodMonitor{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "pm"},
			Spec:       monitoringv1.PodMonitorSpec{Selector: selector, PodMetricsEndpoints: []monitoringv1.PodMetricsEndpoint{{Port: ptr.To("http")}}},
		})
		require.ErrorContains(t, err, "podMonitor/ns/pm: spec.selector: ")
	}
}

// With DenyFileAccess, a ServiceMonitor endpoint that reads a file of this instance is refused, naming the
// field: its author could send this instance's service account token to a target of theirs.
func TestDenyFileAccess(t *testing.T) {
	monitor := func(ep monitoringv1.Endpoint) *monitoringv1.ServiceMonitor {
		ep.Port = "http"
		return &monitoringv1.ServiceMonitor{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "sm"}, Spec: monitoringv1.ServiceMonitorSpec{Endpoints: []monitoringv1.Endpoint{{Port: "web"}, ep}}}
	}
	token := "/var/run/secrets/kubernetes.io/serviceaccount/token"
	withTLS := func(set func(*monitoringv1.TLSConfig)) monitoringv1.Endpoint {
		var ep monitoringv1.Endpoint
		ep.TLSConfig = &monitoringv1.TLSConfig{}
		set(ep.TLSConfig)
		return ep
	}
	var bearer monitoringv1.Endpoint
	bearer.BearerTokenFile = token //nolint:staticcheck // deprecated, still honoured as by the operator
	for field, ep := range map[string]monitoringv1.Endpoint{
		"bearerTokenFile":    bearer,
		"tlsConfig.caFile":   withTLS(func(t *monitoringv1.TLSConfig) { t.CAFile = token }),
		"tlsConfig.certFile": withTLS(func(t *monitoringv1.TLSConfig) { t.CertFile, t.KeyFile = token, token }),
		"tlsConfig.keyFile":  withTLS(func(t *monitoringv1.TLSConfig) { t.KeyFile = token }),
	} {
		_, err := (&Generator{DenyFileAccess: true}).ServiceMonitor(monitor(ep))
		require.EqualError(t, err, "serviceMonitor/ns/sm/1: "+field+": reads a file of this instance, which is not allowed here")
		if field != "tlsConfig.keyFile" { // a key without its certificate is refused anyway
			_, err = (&Generator{}).ServiceMonitor(monitor(ep))
			require.NoError(t, err, field)
		}
	}
	_, err := (&Generator{DenyFileAccess: true}).ServiceMonitor(monitor(withTLS(func(*monitoringv1.TLSConfig) {})))
	require.NoError(t, err)
}

// Credentials come from the Store, inline in the job; an unknown Secret or key is the monitor's error,
// naming the field and the object, never a value.
func TestCredentials(t *testing.T) {
	secret := func(name, key string) *corev1.SecretKeySelector {
		return &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key}
	}
	monitor := func(ep monitoringv1.Endpoint) *monitoringv1.ServiceMonitor {
		ep.Port = "web"
		return &monitoringv1.ServiceMonitor{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "sm"},
			Spec: monitoringv1.ServiceMonitorSpec{Endpoints: []monitoringv1.Endpoint{ep}}}
	}
	var basic, bearer, authz monitoringv1.Endpoint
	basic.BasicAuth = &monitoringv1.BasicAuth{Username: *secret("basic-auth", "username"), Password: *secret("basic-auth", "password")}
	bearer.BearerTokenSecret = secret("bearer", "token") //nolint:staticcheck // the deprecated field, still honoured
	authz.Authorization = &monitoringv1.SafeAuthorization{Type: "Token", Credentials: secret("bearer", "token")}
	g := &Generator{Store: goldenStore}

	jobs, err := g.ServiceMonitor(monitor(basic))
	require.NoError(t, err)
	require.Equal(t, "user", jobs[0].HTTPClientConfig.BasicAuth.Username)
	require.Equal(t, "top-secret", string(jobs[0].HTTPClientConfig.BasicAuth.Password))
	jobs, err = g.ServiceMonitor(monitor(bearer))
	require.NoError(t, err)
	require.Equal(t, "Bearer", jobs[0].HTTPClientConfig.Authorization.Type)
	require.Equal(t, "bearer-token", string(jobs[0].HTTPClientConfig.Authorization.Credentials))
	jobs, err = g.ServiceMonitor(monitor(authz))
	require.NoError(t, err)
	require.Equal(t, "Token", jobs[0].HTTPClientConfig.Authorization.Type)
	require.Equal(t, "bearer-token", string(jobs[0].HTTPClientConfig.Authorization.Credentials))

	basic.BasicAuth.Password.Key = "nope"
	_, err = g.ServiceMonitor(monitor(basic))
	require.EqualError(t, err, `serviceMonitor/default/sm/0: basicAuth.password: secret default/basic-auth has no key "nope"`)
	_, err = (&Generator{}).ServiceMonitor(monitor(bearer))
	require.EqualError(t, err, "serviceMonitor/default/sm/0: bearerTokenSecret: no store of Secrets and ConfigMaps")
	var tls monitoringv1.Endpoint
	tls.TLSConfig = &monitoringv1.TLSConfig{SafeTLSConfig: monitoringv1.SafeTLSConfig{KeySecret: secret("missing-key", "key"),
		Cert: monitoringv1.SecretOrConfigMap{ConfigMap: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "certs"}, Key: "tls.crt"}}}}
	_, err = g.ServiceMonitor(monitor(tls))
	require.EqualError(t, err, `serviceMonitor/default/sm/0: tlsConfig.cert: configmap default/certs has no key "tls.crt"`)
}

// With NodeName, a PodMonitor's discovery lists only the node's pods (a field selector, with the monitor's
// label selector where it has one: one selector a role), and a ServiceMonitor's keeps only the endpoints of
// the node, or of its pods, whatever the role; its discovery watches only the node's pods. The name is a
// literal, not a regular expression.
func TestNodeName(t *testing.T) {
	g := &Generator{NodeName: "node.a"}
	roleSelector := ptr.To(monitoringv1.SelectorMechanismRole)
	selector := metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	pods := func(sd *kubernetes.SDConfig) []kubernetes.SelectorConfig {
		var out []kubernetes.SelectorConfig
		for _, s := range sd.Selectors {
			if s.Role == kubernetes.RolePod {
				out = append(out, s)
			}
		}
		return out
	}
	for _, mechanism := range []*monitoringv1.SelectorMechanism{nil, roleSelector} {
		pm, err := g.PodMonitor(&monitoringv1.PodMonitor{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "pm"},
			Spec: monitoringv1.PodMonitorSpec{Selector: selector, SelectorMechanism: mechanism,
				PodMetricsEndpoints: []monitoringv1.PodMetricsEndpoint{{Port: ptr.To("http")}}}})
		require.NoError(t, err)
		want := kubernetes.SelectorConfig{Role: kubernetes.RolePod, Field: "spec.nodeName=node.a"}
		if mechanism != nil {
			want.Label = "app=web"
		}
		require.Equal(t, []kubernetes.SelectorConfig{want}, pods(pm[0].ServiceDiscoveryConfigs[0].(*kubernetes.SDConfig)))
	}

	for _, role := range []monitoringv1.ServiceDiscoveryRole{monitoringv1.EndpointsRole, monitoringv1.EndpointSliceRole} {
		sm, err := g.ServiceMonitor(&monitoringv1.ServiceMonitor{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "sm"},
			Spec: monitoringv1.ServiceMonitorSpec{Selector: selector, SelectorMechanism: roleSelector, ServiceDiscoveryRole: &role,
				Endpoints: []monitoringv1.Endpoint{{Port: "http"}}}})
		require.NoError(t, err)
		require.Equal(t, []kubernetes.SelectorConfig{{Role: kubernetes.RolePod, Field: "spec.nodeName=node.a"}},
			pods(sm[0].ServiceDiscoveryConfigs[0].(*kubernetes.SDConfig)))
		portName, nodeName := "__meta_kubernetes_endpoint_port_name", "__meta_kubernetes_endpoint_node_name"
		if role == monitoringv1.EndpointSliceRole {
			portName, nodeName = "__meta_kubernetes_endpointslice_port_name", "__meta_kubernetes_endpointslice_endpoint_node_name"
		}
		for _, c := range []struct {
			endpointNode, podNode string
			kept                  bool
		}{
			{"node.a", "node.a", true},
			{"node.a", "", true},  // an endpoint without a pod
			{"", "node.a", true},  // a port of the pod that no endpoint lists
			{"nodexa", "", false}, // not a regular expression
			{"node.b", "node.b", false},
			{"", "node.b", false},
			{"", "", false},
		} {
			b := labels.NewBuilder(labels.FromStrings("__address__", "10.0.0.1:80", "__meta_kubernetes_namespace", "ns",
				portName, "http", "__meta_kubernetes_service_label_app", "web", "__meta_kubernetes_service_labelpresent_app", "true"))
			if c.endpointNode != "" {
				b.Set(nodeName, c.endpointNode)
			}
			if c.podNode != "" {
				b.Set("__meta_kubernetes_pod_node_name", c.podNode)
			}
			require.Equal(t, c.kept, relabel.ProcessBuilder(b, sm[0].RelabelConfigs...), "%s: %+v", role, c)
		}
	}
}
