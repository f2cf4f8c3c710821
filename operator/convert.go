// Package operator turns the prometheus-operator's ServiceMonitor and PodMonitor objects into Prometheus
// scrape configurations, as the operator itself does for the Prometheus it runs: a port of the config
// generator of its pkg/prometheus (promcfg.go), whose golden files are this package's reference.
//
// Each endpoint of a monitor is one job, serviceMonitor/<namespace>/<name>/<i> or podMonitor/..., with one
// kubernetes_sd_config; the monitor's selector becomes keep and drop rules of its relabel_configs. What the
// operator adds for its own deployment is left out: the hashmod sharding rules (the cluster table shards
// here), scrape classes, the enforced limits and namespace label of a Prometheus object. Credentials that a
// monitor names in Secrets and ConfigMaps are read through a Store and written into the configuration
// inline (TLS files too: ca, cert, key), never into a log or an error.
package operator

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	promconfig "github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery/kubernetes"
	"github.com/prometheus/prometheus/util/strutil"
	"go.yaml.in/yaml/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Store reads the keys of Secrets and ConfigMaps that monitors name, in the monitor's namespace. Its
// errors name the object and the key, never a value.
type Store interface {
	SecretKey(namespace string, sel corev1.SecretKeySelector) (string, error)
	ConfigMapKey(namespace string, sel corev1.ConfigMapKeySelector) (string, error)
}

// The kubernetes SD roles a ServiceMonitor's jobs may use.
const (
	RoleEndpointSlice = "endpointslice"
	RoleEndpoints     = "endpoints"
)

// Generator converts monitors into scrape configurations.
type Generator struct {
	// Role is the kubernetes SD role of a ServiceMonitor's jobs whose serviceDiscoveryRole is unset:
	// RoleEndpointSlice, or RoleEndpoints ("" is RoleEndpointSlice).
	Role string
	// Store reads the credentials the monitors name.
	Store Store
	// APIServer, if not nil, is how the jobs' kubernetes_sd_configs reach the API server: its api_server,
	// kubeconfig_file and HTTP client settings; nil is from within the cluster, as the operator's
	// Prometheus does.
	APIServer *kubernetes.SDConfig
	// Global holds the defaults of the jobs (scrape interval and timeout, protocols); nil is Prometheus'
	// defaults.
	Global *promconfig.GlobalConfig
	// NodeName, if set, keeps the targets of one node, for an instance per node: a PodMonitor's pods by a
	// field selector spec.nodeName of its discovery (the API server lists and watches that node's pods
	// only); a ServiceMonitor's endpoints, which no field selector of the API server tells apart by
	// node, by a keep rule on the endpoint's node name (or its pod's, for the ports of a pod that no
	// endpoint lists), its discovery watching only the node's pods all the same.
	NodeName string
	// DenyFileAccess refuses a ServiceMonitor whose endpoints read files of this instance
	// (bearerTokenFile, tlsConfig's caFile, certFile and keyFile), as the operator's
	// arbitraryFSAccessThroughSMs.deny does: its author could send this instance's own credentials (its
	// service account's token) to a target of theirs.
	DenyFileAccess bool
}

// ServiceMonitor returns the jobs of a ServiceMonitor, one per endpoint. An error names the job and the
// field it is about.
func (g *Generator) ServiceMonitor(m *monitoringv1.ServiceMonitor) ([]*promconfig.ScrapeConfig, error) {
	_, configs, err := g.serviceMonitorJobs(m)
	return configs, err
}

// PodMonitor returns the jobs of a PodMonitor, one per podMetricsEndpoint.
func (g *Generator) PodMonitor(m *monitoringv1.PodMonitor) ([]*promconfig.ScrapeConfig, error) {
	_, configs, err := g.podMonitorJobs(m)
	return configs, err
}

// ServiceMonitorYAML returns the jobs of a ServiceMonitor as the operator writes them into the
// scrape_configs of its Prometheus' prometheus.yml: a YAML list, credentials inline. APIServer is not in
// it (the operator's Prometheus reaches its API server from within the cluster).
func (g *Generator) ServiceMonitorYAML(m *monitoringv1.ServiceMonitor) ([]byte, error) {
	jobs, _, err := g.serviceMonitorJobs(m)
	return jobsYAML(jobs, err)
}

// PodMonitorYAML is ServiceMonitorYAML for a PodMonitor.
func (g *Generator) PodMonitorYAML(m *monitoringv1.PodMonitor) ([]byte, error) {
	jobs, _, err := g.podMonitorJobs(m)
	return jobsYAML(jobs, err)
}

func jobsYAML(jobs []yaml.MapSlice, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	return yaml.Marshal(jobs)
}

func (g *Generator) serviceMonitorJobs(m *monitoringv1.ServiceMonitor) ([]yaml.MapSlice, []*promconfig.ScrapeConfig, error) {
	return g.jobs("serviceMonitor", m.ObjectMeta, m.Spec.Selector, len(m.Spec.Endpoints), func(i int) (yaml.MapSlice, error) {
		return g.serviceMonitorYAML(m, m.Spec.Endpoints[i], i)
	})
}

func (g *Generator) podMonitorJobs(m *monitoringv1.PodMonitor) ([]yaml.MapSlice, []*promconfig.ScrapeConfig, error) {
	return g.jobs("podMonitor", m.ObjectMeta, m.Spec.Selector, len(m.Spec.PodMetricsEndpoints), func(i int) (yaml.MapSlice, error) {
		return g.podMonitorYAML(m, m.Spec.PodMetricsEndpoints[i], i)
	})
}

// jobs generates the n jobs of a monitor, and reads each as Prometheus does. A monitor whose selector is
// not valid is refused, as the operator refuses it: its keep and drop rules would leave out an expression
// they cannot say (an operator other than In, NotIn, Exists and DoesNotExist), selecting more than it says.
func (g *Generator) jobs(kind string, meta metav1.ObjectMeta, selector metav1.LabelSelector, n int, generate func(i int) (yaml.MapSlice, error)) ([]yaml.MapSlice, []*promconfig.ScrapeConfig, error) {
	if _, err := metav1.LabelSelectorAsSelector(&selector); err != nil {
		return nil, nil, fmt.Errorf("%s/%s/%s: spec.selector: %w", kind, meta.Namespace, meta.Name, err)
	}
	jobs := make([]yaml.MapSlice, 0, n)
	configs := make([]*promconfig.ScrapeConfig, 0, n)
	for i := range n {
		job, sc, err := g.generate(fmt.Sprintf("%s/%s/%s/%d", kind, meta.Namespace, meta.Name, i), func() (yaml.MapSlice, error) { return generate(i) })
		if err != nil {
			return nil, nil, err
		}
		jobs, configs = append(jobs, job), append(configs, sc)
	}
	return jobs, configs, nil
}

// generate generates the job of the name, and reads it as Prometheus does; its error names the job.
func (g *Generator) generate(name string, generate func() (yaml.MapSlice, error)) (yaml.MapSlice, *promconfig.ScrapeConfig, error) {
	job, err := generate()
	var sc *promconfig.ScrapeConfig
	if err == nil {
		sc, err = g.scrapeConfig(job)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	return job, sc, nil
}

// scrapeConfig reads a generated job as Prometheus reads a scrape_config, with the global defaults.
func (g *Generator) scrapeConfig(cfg yaml.MapSlice) (*promconfig.ScrapeConfig, error) {
	data, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	sc := &promconfig.ScrapeConfig{}
	if err := yaml.UnmarshalStrict(data, sc); err != nil {
		return nil, err
	}
	global := promconfig.DefaultGlobalConfig
	if g.Global != nil {
		global = *g.Global
	}
	if err := sc.Validate(global); err != nil {
		return nil, err
	}
	if g.APIServer != nil {
		for _, sd := range sc.ServiceDiscoveryConfigs {
			// A ScrapeConfig's kubernetesSDConfigs may name an API server of their own.
			if k, ok := sd.(*kubernetes.SDConfig); ok && k.APIServer.URL == nil {
				k.APIServer, k.KubeConfig, k.HTTPClientConfig = g.APIServer.APIServer, g.APIServer.KubeConfig, g.APIServer.HTTPClientConfig
			}
		}
	}
	return sc, nil
}

// endpoint holds what a ServiceMonitor's endpoint, a PodMonitor's podMetricsEndpoint and a ScrapeConfig
// share.
type endpoint struct {
	path                             string
	scheme                           *monitoringv1.Scheme
	params                           map[string][]string
	interval, timeout                monitoringv1.Duration
	honorLabels                      *bool
	honorTimestamps, trackStaleness  *bool
	enableCompression                *bool
	extraScrapeMetrics               *bool
	relabelings, metricRelabelings   []monitoringv1.RelabelConfig
	client                           httpClient
	nameValidation                   *monitoringv1.NameValidationSchemeOptions
	nameEscaping                     *monitoringv1.NameEscapingSchemeOptions
	nativeHistograms                 monitoringv1.NativeHistogramConfig
	scrapeProtocols                  []monitoringv1.ScrapeProtocol
	fallbackProtocol                 *monitoringv1.ScrapeProtocol
	bodySizeLimit                    *monitoringv1.ByteSize
	sampleLimit, targetLimit         *int64
	labelLimit, labelNameLengthLimit *int64
	labelValueLengthLimit            *int64
	keepDroppedTargets               *int64
}

func (g *Generator) serviceMonitorYAML(m *monitoringv1.ServiceMonitor, ep monitoringv1.Endpoint, i int) (yaml.MapSlice, error) {
	role := g.Role
	if role == "" {
		role = RoleEndpointSlice
	}
	if m.Spec.ServiceDiscoveryRole != nil {
		role = strings.ToLower(string(*m.Spec.ServiceDiscoveryRole))
	}
	if g.DenyFileAccess {
		if err := fileAccess(ep); err != nil {
			return nil, err
		}
	}
	spec := m.Spec
	e := endpoint{
		path: ep.Path, scheme: ep.Scheme, params: ep.Params, interval: ep.Interval, timeout: ep.ScrapeTimeout,
		honorLabels: &ep.HonorLabels, honorTimestamps: ep.HonorTimestamps, trackStaleness: ep.TrackTimestampsStaleness,
		relabelings: ep.RelabelConfigs, metricRelabelings: ep.MetricRelabelConfigs,
		client: httpClient{HTTPConfigWithoutTLS: ep.HTTPConfigWithoutTLS, proxy: ep.ProxyConfig, tls: ep.TLSConfig,
			bearerTokenFile: ep.BearerTokenFile}, //nolint:staticcheck // deprecated, still honoured as by the operator
		extraScrapeMetrics: spec.ExtraScrapeMetrics,
		nativeHistograms:   spec.NativeHistogramConfig, scrapeProtocols: spec.ScrapeProtocols, fallbackProtocol: spec.FallbackScrapeProtocol,
		bodySizeLimit: spec.BodySizeLimit, sampleLimit: spec.SampleLimit, targetLimit: spec.TargetLimit,
		labelLimit: spec.LabelLimit, labelNameLengthLimit: spec.LabelNameLengthLimit,
		labelValueLengthLimit: spec.LabelValueLengthLimit, keepDroppedTargets: spec.KeepDroppedTargets,
	}
	job := fmt.Sprintf("serviceMonitor/%s/%s/%d", m.Namespace, m.Name, i)
	sd := g.onNode(kubernetesSD(role, spec.NamespaceSelector, m.Namespace, spec.AttachMetadata, spec.Selector, spec.SelectorMechanism,
		role, "service"))
	relabelings := initRelabelings()
	if g.NodeName != "" {
		nodeName := "__meta_kubernetes_endpoint_node_name"
		if role == RoleEndpointSlice {
			nodeName = "__meta_kubernetes_endpointslice_endpoint_node_name"
		}
		node := regexp.QuoteMeta(g.NodeName)
		relabelings = append(relabelings, yaml.MapSlice{{Key: "action", Value: "keep"},
			{Key: "source_labels", Value: []string{nodeName, "__meta_kubernetes_pod_node_name"}}, {Key: "regex", Value: node + ";.*|.*;" + node}})
	}
	if selectByRelabeling(spec.SelectorMechanism) {
		relabelings = append(relabelings, selectorRelabelings("service", spec.Selector)...)
	}
	// Keep the endpoint's port.
	portName := "__meta_kubernetes_endpoint_port_name"
	target := []string{"__meta_kubernetes_endpoint_address_target_kind", "__meta_kubernetes_endpoint_address_target_name"}
	if role == RoleEndpointSlice {
		portName = "__meta_kubernetes_endpointslice_port_name"
		target = []string{"__meta_kubernetes_endpointslice_address_target_kind", "__meta_kubernetes_endpointslice_address_target_name"}
	}
	switch {
	case ep.Port != "":
		relabelings = append(relabelings, keep(portName, ep.Port))
	case ep.TargetPort != nil && ep.TargetPort.StrVal != "":
		relabelings = append(relabelings, keep("__meta_kubernetes_pod_container_port_name", ep.TargetPort.String()))
	case ep.TargetPort != nil && ep.TargetPort.IntVal != 0:
		relabelings = append(relabelings, keep("__meta_kubernetes_pod_container_port_number", ep.TargetPort.IntValue()))
	}
	relabelings = append(relabelings,
		yaml.MapSlice{{Key: "source_labels", Value: target}, {Key: "separator", Value: ";"}, {Key: "regex", Value: "Node;(.*)"},
			{Key: "replacement", Value: "${1}"}, {Key: "target_label", Value: "node"}},
		yaml.MapSlice{{Key: "source_labels", Value: target}, {Key: "separator", Value: ";"}, {Key: "regex", Value: "Pod;(.*)"},
			{Key: "replacement", Value: "${1}"}, {Key: "target_label", Value: "pod"}},
		copyLabel("__meta_kubernetes_namespace", "namespace"),
		copyLabel("__meta_kubernetes_service_name", "service"),
		copyLabel("__meta_kubernetes_pod_name", "pod"),
		copyLabel("__meta_kubernetes_pod_container_name", "container"),
	)
	if ptr.Deref(ep.FilterRunning, true) {
		relabelings = append(relabelings, runningFilter())
	}
	for _, l := range spec.TargetLabels {
		relabelings = append(relabelings, labelFrom("__meta_kubernetes_service_label_", l, l))
	}
	relabelings = append(relabelings, podTargetLabels(spec.PodTargetLabels)...)
	// The job is the service's name, or its jobLabel label where it has one.
	relabelings = append(relabelings, yaml.MapSlice{
		{Key: "source_labels", Value: []string{"__meta_kubernetes_service_name"}},
		{Key: "target_label", Value: "job"},
		{Key: "replacement", Value: "${1}"},
	})
	if spec.JobLabel != "" {
		relabelings = append(relabelings, labelFrom("__meta_kubernetes_service_label_", spec.JobLabel, "job"))
	}
	switch {
	case ep.Port != "":
		relabelings = append(relabelings, setLabel("endpoint", ep.Port))
	case ep.TargetPort != nil && ep.TargetPort.String() != "":
		relabelings = append(relabelings, setLabel("endpoint", ep.TargetPort.String()))
	}
	return g.job(job, namespaced{g.Store, m.Namespace, ""}, []yaml.MapItem{sd}, e, relabelings)
}

// fileAccess names the first field of an endpoint that reads a file of this instance, if any.
func fileAccess(ep monitoringv1.Endpoint) error {
	files := []struct{ field, path string }{{"bearerTokenFile", ep.BearerTokenFile}} //nolint:staticcheck // deprecated, still honoured as by the operator
	if t := ep.TLSConfig; t != nil {
		files = append(files, []struct{ field, path string }{{"tlsConfig.caFile", t.CAFile}, {"tlsConfig.certFile", t.CertFile}, {"tlsConfig.keyFile", t.KeyFile}}...)
	}
	for _, f := range files {
		if f.path != "" {
			return fmt.Errorf("%s: reads a file of this instance, which is not allowed here", f.field)
		}
	}
	return nil
}

func (g *Generator) podMonitorYAML(m *monitoringv1.PodMonitor, ep monitoringv1.PodMetricsEndpoint, i int) (yaml.MapSlice, error) {
	spec := m.Spec
	e := endpoint{
		path: ep.Path, scheme: ep.Scheme, params: ep.Params, interval: ep.Interval, timeout: ep.ScrapeTimeout,
		honorLabels: &ep.HonorLabels, honorTimestamps: ep.HonorTimestamps, trackStaleness: ep.TrackTimestampsStaleness,
		relabelings: ep.RelabelConfigs, metricRelabelings: ep.MetricRelabelConfigs,
		client:             httpClient{HTTPConfigWithoutTLS: ep.HTTPConfigWithoutTLS, proxy: ep.ProxyConfig, tls: safeTLS(ep.TLSConfig)},
		extraScrapeMetrics: spec.ExtraScrapeMetrics,
		nativeHistograms:   spec.NativeHistogramConfig, scrapeProtocols: spec.ScrapeProtocols, fallbackProtocol: spec.FallbackScrapeProtocol,
		bodySizeLimit: spec.BodySizeLimit, sampleLimit: spec.SampleLimit, targetLimit: spec.TargetLimit,
		labelLimit: spec.LabelLimit, labelNameLengthLimit: spec.LabelNameLengthLimit,
		labelValueLengthLimit: spec.LabelValueLengthLimit, keepDroppedTargets: spec.KeepDroppedTargets,
	}
	job := fmt.Sprintf("podMonitor/%s/%s/%d", m.Namespace, m.Name, i)
	sd := g.onNode(kubernetesSD("pod", spec.NamespaceSelector, m.Namespace, spec.AttachMetadata, spec.Selector, spec.SelectorMechanism, "pod"))
	relabelings := initRelabelings()
	if ptr.Deref(ep.FilterRunning, true) {
		relabelings = append(relabelings, runningFilter())
	}
	if selectByRelabeling(spec.SelectorMechanism) {
		relabelings = append(relabelings, selectorRelabelings("pod", spec.Selector)...)
	}
	targetPort := ep.TargetPort //nolint:staticcheck // deprecated, still honoured as by the operator
	switch {
	case ptr.Deref(ep.Port, "") != "":
		relabelings = append(relabelings, keep("__meta_kubernetes_pod_container_port_name", *ep.Port))
	case ptr.Deref(ep.PortNumber, 0) != 0:
		relabelings = append(relabelings, keep("__meta_kubernetes_pod_container_port_number", *ep.PortNumber))
	case targetPort != nil && targetPort.StrVal != "":
		relabelings = append(relabelings, keep("__meta_kubernetes_pod_container_port_name", targetPort.String()))
	case targetPort != nil && targetPort.IntVal != 0:
		relabelings = append(relabelings, keep("__meta_kubernetes_pod_container_port_number", targetPort.IntValue()))
	}
	relabelings = append(relabelings,
		copyLabel("__meta_kubernetes_namespace", "namespace"),
		copyLabel("__meta_kubernetes_pod_container_name", "container"),
		copyLabel("__meta_kubernetes_pod_name", "pod"),
	)
	relabelings = append(relabelings, podTargetLabels(spec.PodTargetLabels)...)
	// The job is the monitor's namespace/name, or its pods' jobLabel label where they have one.
	relabelings = append(relabelings, setLabel("job", m.Namespace+"/"+m.Name))
	if spec.JobLabel != "" {
		relabelings = append(relabelings, labelFrom("__meta_kubernetes_pod_label_", spec.JobLabel, "job"))
	}
	switch {
	case ptr.Deref(ep.Port, "") != "":
		relabelings = append(relabelings, setLabel("endpoint", *ep.Port))
	case targetPort != nil && targetPort.String() != "":
		relabelings = append(relabelings, setLabel("endpoint", targetPort.String()))
	}
	return g.job(job, namespaced{g.Store, m.Namespace, ""}, []yaml.MapItem{sd}, e, relabelings)
}

// job assembles a job in the order of the operator's generator, its service discoveries sds; s reads the
// credentials.
func (g *Generator) job(name string, s namespaced, sds []yaml.MapItem, e endpoint, relabelings []yaml.MapSlice) (yaml.MapSlice, error) {
	cfg := yaml.MapSlice{{Key: "job_name", Value: name}}
	cfg = set(cfg, "honor_labels", e.honorLabels)
	cfg = set(cfg, "honor_timestamps", e.honorTimestamps)
	cfg = set(cfg, "track_timestamps_staleness", e.trackStaleness)
	cfg = set(cfg, "enable_compression", e.enableCompression)
	cfg = set(cfg, "extra_scrape_metrics", e.extraScrapeMetrics)
	cfg = append(cfg, sds...)
	if e.interval != "" {
		cfg = append(cfg, yaml.MapItem{Key: "scrape_interval", Value: e.interval})
	}
	if e.timeout != "" {
		cfg = append(cfg, yaml.MapItem{Key: "scrape_timeout", Value: e.timeout})
	}
	if e.path != "" {
		cfg = append(cfg, yaml.MapItem{Key: "metrics_path", Value: e.path})
	}
	if e.params != nil {
		cfg = append(cfg, yaml.MapItem{Key: "params", Value: e.params})
	}
	if e.scheme != nil {
		cfg = append(cfg, yaml.MapItem{Key: "scheme", Value: e.scheme.String()})
	}
	cfg, err := s.http(cfg, e.client)
	if err != nil {
		return nil, err
	}
	relabelings = append(relabelings, relabelConfigs(e.relabelings)...)
	cfg = append(cfg, yaml.MapItem{Key: "relabel_configs", Value: relabelings})
	for _, limit := range []struct {
		key   string
		value *int64
	}{
		{"sample_limit", e.sampleLimit}, {"target_limit", e.targetLimit}, {"label_limit", e.labelLimit},
		{"label_name_length_limit", e.labelNameLengthLimit}, {"label_value_length_limit", e.labelValueLengthLimit},
		{"keep_dropped_targets", e.keepDroppedTargets},
	} {
		if limit.value != nil {
			cfg = append(cfg, yaml.MapItem{Key: limit.key, Value: *limit.value})
		}
	}
	cfg = nativeHistograms(cfg, e.nativeHistograms)
	if len(e.scrapeProtocols) > 0 {
		cfg = append(cfg, yaml.MapItem{Key: "scrape_protocols", Value: e.scrapeProtocols})
	}
	if e.fallbackProtocol != nil {
		cfg = append(cfg, yaml.MapItem{Key: "fallback_scrape_protocol", Value: *e.fallbackProtocol})
	}
	if e.bodySizeLimit != nil && *e.bodySizeLimit != "" {
		cfg = append(cfg, yaml.MapItem{Key: "body_size_limit", Value: *e.bodySizeLimit})
	}
	if len(e.metricRelabelings) > 0 {
		cfg = append(cfg, yaml.MapItem{Key: "metric_relabel_configs", Value: relabelConfigs(e.metricRelabelings)})
	}
	if e.nameValidation != nil {
		cfg = append(cfg, yaml.MapItem{Key: "metric_name_validation_scheme", Value: strings.ToLower(string(*e.nameValidation))})
	}
	if v, ok := nameEscapingSchemes[ptr.Deref(e.nameEscaping, "")]; ok {
		cfg = append(cfg, yaml.MapItem{Key: "metric_name_escaping_scheme", Value: v})
	}
	return cfg, nil
}

// nameEscapingSchemes are Prometheus' names of the metric name escaping schemes.
var nameEscapingSchemes = map[monitoringv1.NameEscapingSchemeOptions]string{
	monitoringv1.AllowUTF8NameEscapingScheme:   "allow-utf-8",
	monitoringv1.UnderscoresNameEscapingScheme: "underscores",
	monitoringv1.DotsNameEscapingScheme:        "dots",
	monitoringv1.ValuesNameEscapingScheme:      "values",
}

func nativeHistograms(cfg yaml.MapSlice, nhc monitoringv1.NativeHistogramConfig) yaml.MapSlice {
	if nhc.ScrapeNativeHistograms != nil {
		cfg = append(cfg, yaml.MapItem{Key: "scrape_native_histograms", Value: *nhc.ScrapeNativeHistograms})
	}
	if nhc.NativeHistogramBucketLimit != nil {
		cfg = append(cfg, yaml.MapItem{Key: "native_histogram_bucket_limit", Value: *nhc.NativeHistogramBucketLimit})
	}
	if nhc.NativeHistogramMinBucketFactor != nil {
		cfg = append(cfg, yaml.MapItem{Key: "native_histogram_min_bucket_factor", Value: nhc.NativeHistogramMinBucketFactor.AsApproximateFloat64()})
	}
	if nhc.ScrapeClassicHistograms != nil {
		cfg = append(cfg, yaml.MapItem{Key: "always_scrape_classic_histograms", Value: *nhc.ScrapeClassicHistograms})
	}
	if nhc.ConvertClassicHistogramsToNHCB != nil {
		cfg = append(cfg, yaml.MapItem{Key: "convert_classic_histograms_to_nhcb", Value: *nhc.ConvertClassicHistogramsToNHCB})
	}
	return cfg
}

// kubernetesSD is the job's kubernetes_sd_configs: the role, the namespaces of the namespaceSelector
// (none: all; empty: the monitor's own), attach_metadata, and, with selectorMechanism RoleSelector, the
// monitor's selector as a label selector of each of the roles.
func kubernetesSD(role string, nsel monitoringv1.NamespaceSelector, namespace string, attach *monitoringv1.AttachMetadata,
	selector metav1.LabelSelector, mechanism *monitoringv1.SelectorMechanism, selectorRoles ...string,
) yaml.MapItem {
	sd := yaml.MapSlice{{Key: "role", Value: role}}
	namespaces := nsel.MatchNames
	if len(namespaces) == 0 {
		namespaces = []string{namespace}
	}
	if !nsel.Any {
		sd = append(sd, yaml.MapItem{Key: "namespaces", Value: yaml.MapSlice{{Key: "names", Value: namespaces}}})
	}
	if attach != nil {
		sd = append(sd, yaml.MapItem{Key: "attach_metadata", Value: yaml.MapSlice{{Key: "node", Value: ptr.Deref(attach.Node, false)}}})
	}
	if !selectByRelabeling(mechanism) {
		// The CRD's schema admits only valid selectors.
		label := metav1.FormatLabelSelector(&selector)
		var selectors []yaml.MapSlice
		for _, r := range selectorRoles {
			selectors = append(selectors, yaml.MapSlice{{Key: "role", Value: r}, {Key: "label", Value: label}})
		}
		sd = append(sd, yaml.MapItem{Key: "selectors", Value: selectors})
	}
	return yaml.MapItem{Key: "kubernetes_sd_configs", Value: []yaml.MapSlice{sd}}
}

// onNode adds the field selector spec.nodeName=NodeName to the pod role's selector of a job's
// kubernetes_sd_configs (a role has one selector: with the monitor's label selector, in the same).
func (g *Generator) onNode(sd yaml.MapItem) yaml.MapItem {
	if g.NodeName == "" {
		return sd
	}
	field := yaml.MapItem{Key: "field", Value: "spec.nodeName=" + g.NodeName}
	config := sd.Value.([]yaml.MapSlice)[0]
	i := slices.IndexFunc(config, func(item yaml.MapItem) bool { return item.Key == "selectors" })
	if i < 0 {
		config = append(config, yaml.MapItem{Key: "selectors", Value: []yaml.MapSlice{}})
		i = len(config) - 1
	}
	selectors := config[i].Value.([]yaml.MapSlice)
	j := slices.IndexFunc(selectors, func(s yaml.MapSlice) bool { return s[0].Value == "pod" })
	if j < 0 {
		selectors = append(selectors, yaml.MapSlice{{Key: "role", Value: "pod"}})
		j = len(selectors) - 1
	}
	selectors[j] = append(selectors[j], field)
	config[i].Value = selectors
	sd.Value = []yaml.MapSlice{config}
	return sd
}

func selectByRelabeling(mechanism *monitoringv1.SelectorMechanism) bool {
	return ptr.Deref(mechanism, monitoringv1.SelectorMechanismRelabel) == monitoringv1.SelectorMechanismRelabel
}

// selectorRelabelings are a label selector as keep and drop rules on the labels of the service or pod.
func selectorRelabelings(kind string, selector metav1.LabelSelector) []yaml.MapSlice {
	value := func(k string) string { return "__meta_kubernetes_" + kind + "_label_" + strutil.SanitizeLabelName(k) }
	present := func(k string) string {
		return "__meta_kubernetes_" + kind + "_labelpresent_" + strutil.SanitizeLabelName(k)
	}
	rule := func(action string, sources []string, regex string) yaml.MapSlice {
		return yaml.MapSlice{{Key: "action", Value: action}, {Key: "source_labels", Value: sources}, {Key: "regex", Value: regex}}
	}
	var out []yaml.MapSlice
	for _, k := range slices.Sorted(maps.Keys(selector.MatchLabels)) {
		out = append(out, rule("keep", []string{value(k), present(k)}, fmt.Sprintf("(%s);true", selector.MatchLabels[k])))
	}
	for _, exp := range selector.MatchExpressions {
		switch exp.Operator {
		case metav1.LabelSelectorOpIn:
			out = append(out, rule("keep", []string{value(exp.Key), present(exp.Key)}, fmt.Sprintf("(%s);true", strings.Join(exp.Values, "|"))))
		case metav1.LabelSelectorOpNotIn:
			out = append(out, rule("drop", []string{value(exp.Key), present(exp.Key)}, fmt.Sprintf("(%s);true", strings.Join(exp.Values, "|"))))
		case metav1.LabelSelectorOpExists:
			out = append(out, rule("keep", []string{present(exp.Key)}, "true"))
		case metav1.LabelSelectorOpDoesNotExist:
			out = append(out, rule("drop", []string{present(exp.Key)}, "true"))
		}
	}
	return out
}

// initRelabelings keeps the job label a target had before relabeling, as the operator does.
func initRelabelings() []yaml.MapSlice {
	return []yaml.MapSlice{copyLabel("job", "__tmp_prometheus_job_name")}
}

func runningFilter() yaml.MapSlice {
	return yaml.MapSlice{
		{Key: "action", Value: "drop"},
		{Key: "source_labels", Value: []string{"__meta_kubernetes_pod_phase"}},
		{Key: "regex", Value: "(Failed|Succeeded)"},
	}
}

func keep(source string, regex any) yaml.MapSlice {
	return yaml.MapSlice{{Key: "action", Value: "keep"}, {Key: "source_labels", Value: []string{source}}, {Key: "regex", Value: regex}}
}

func copyLabel(source, target string) yaml.MapSlice {
	return yaml.MapSlice{{Key: "source_labels", Value: []string{source}}, {Key: "target_label", Value: target}}
}

func setLabel(target, value string) yaml.MapSlice {
	return yaml.MapSlice{{Key: "target_label", Value: target}, {Key: "replacement", Value: value}}
}

// labelFrom copies a non-empty Kubernetes label (prefix: of the service or the pod) onto a target label.
func labelFrom(prefix, label, target string) yaml.MapSlice {
	return yaml.MapSlice{
		{Key: "source_labels", Value: []string{prefix + strutil.SanitizeLabelName(label)}},
		{Key: "target_label", Value: strutil.SanitizeLabelName(target)},
		{Key: "regex", Value: "(.+)"},
		{Key: "replacement", Value: "${1}"},
	}
}

func podTargetLabels(labels []string) []yaml.MapSlice {
	var out []yaml.MapSlice
	for _, l := range labels {
		out = append(out, labelFrom("__meta_kubernetes_pod_label_", l, l))
	}
	return out
}

// relabelConfigs writes a monitor's relabelings, with the actions lower-cased.
func relabelConfigs(rc []monitoringv1.RelabelConfig) []yaml.MapSlice {
	var out []yaml.MapSlice
	for _, c := range rc {
		r := yaml.MapSlice{}
		if len(c.SourceLabels) > 0 {
			r = append(r, yaml.MapItem{Key: "source_labels", Value: c.SourceLabels})
		}
		if c.Separator != nil {
			r = append(r, yaml.MapItem{Key: "separator", Value: *c.Separator})
		}
		if c.TargetLabel != "" {
			r = append(r, yaml.MapItem{Key: "target_label", Value: c.TargetLabel})
		}
		if c.Regex != "" {
			r = append(r, yaml.MapItem{Key: "regex", Value: c.Regex})
		}
		if c.Modulus != 0 {
			r = append(r, yaml.MapItem{Key: "modulus", Value: c.Modulus})
		}
		if c.Replacement != nil {
			r = append(r, yaml.MapItem{Key: "replacement", Value: *c.Replacement})
		}
		if c.Action != "" {
			r = append(r, yaml.MapItem{Key: "action", Value: strings.ToLower(c.Action)})
		}
		out = append(out, r)
	}
	return out
}

// errNoStore is the error of a monitor that names a Secret or ConfigMap when the generator has no Store.
var errNoStore = errors.New("no store of Secrets and ConfigMaps")
