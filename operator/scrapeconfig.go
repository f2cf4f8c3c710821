package operator

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	monitoringv1alpha1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1alpha1"
	promconfig "github.com/prometheus/prometheus/config"
	promdiscovery "github.com/prometheus/prometheus/discovery"
	"go.yaml.in/yaml/v2"
	"k8s.io/utils/ptr"

	// The service discoveries of this build, so that every job of a ScrapeConfig loads (as in promconf).
	_ "github.com/prometheus/prometheus/plugins"
)

// ScrapeConfig returns the job of a ScrapeConfig, scrapeConfig/<namespace>/<name>, with its service
// discoveries: those of this project's discoverers (static, file, http, kubernetes, consul, dns, ec2, azure,
// gce). An object that names any other is refused, the error naming its field.
func (g *Generator) ScrapeConfig(sc *monitoringv1alpha1.ScrapeConfig) (*promconfig.ScrapeConfig, error) {
	_, cfg, err := g.scrapeConfigJob(sc)
	return cfg, err
}

func (g *Generator) scrapeConfigJob(sc *monitoringv1alpha1.ScrapeConfig) (yaml.MapSlice, *promconfig.ScrapeConfig, error) {
	name := fmt.Sprintf("scrapeConfig/%s/%s", sc.Namespace, sc.Name)
	return g.generate(name, func() (yaml.MapSlice, error) { return g.scrapeConfigYAML(sc, name) })
}

func (g *Generator) scrapeConfigYAML(sc *monitoringv1alpha1.ScrapeConfig, name string) (yaml.MapSlice, error) {
	spec := sc.Spec
	if err := unsupportedSDs(spec); err != nil {
		return nil, err
	}
	e := endpoint{
		path: ptr.Deref(spec.MetricsPath, ""), scheme: spec.Scheme, params: spec.Params,
		interval: ptr.Deref(spec.ScrapeInterval, ""), timeout: ptr.Deref(spec.ScrapeTimeout, ""),
		honorLabels: spec.HonorLabels, honorTimestamps: spec.HonorTimestamps, trackStaleness: spec.TrackTimestampsStaleness,
		enableCompression: spec.EnableCompression, extraScrapeMetrics: spec.ExtraScrapeMetrics,
		relabelings: spec.RelabelConfigs, metricRelabelings: spec.MetricRelabelConfigs,
		client: httpClient{HTTPConfigWithoutTLS: monitoringv1.HTTPConfigWithoutTLS{
			BasicAuth: spec.BasicAuth, Authorization: spec.Authorization, OAuth2: spec.OAuth2, EnableHTTP2: spec.EnableHTTP2,
		}, proxy: spec.ProxyConfig, tls: safeTLS(spec.TLSConfig)},
		nameValidation: spec.NameValidationScheme, nameEscaping: spec.NameEscapingScheme,
		nativeHistograms: spec.NativeHistogramConfig, scrapeProtocols: spec.ScrapeProtocols, fallbackProtocol: spec.FallbackScrapeProtocol,
		bodySizeLimit: spec.BodySizeLimit, sampleLimit: spec.SampleLimit, targetLimit: spec.TargetLimit,
		labelLimit: spec.LabelLimit, labelNameLengthLimit: spec.LabelNameLengthLimit,
		labelValueLengthLimit: spec.LabelValueLengthLimit, keepDroppedTargets: spec.KeepDroppedTargets,
	}
	relabelings := initRelabelings()
	if spec.JobName != nil {
		relabelings = append(relabelings, yaml.MapSlice{{Key: "target_label", Value: "job"}, {Key: "action", Value: "replace"}, {Key: "replacement", Value: *spec.JobName}})
	}
	s := namespaced{g.Store, sc.Namespace, ""}
	var sds []yaml.MapItem
	for _, err := range []error{
		convertAll(&sds, s, "static_configs", "staticConfigs", spec.StaticConfigs, staticConfig),
		convertAll(&sds, s, "file_sd_configs", "fileSDConfigs", spec.FileSDConfigs, fileSD),
		convertAll(&sds, s, "http_sd_configs", "httpSDConfigs", spec.HTTPSDConfigs, httpSD),
		convertAll(&sds, s, "kubernetes_sd_configs", "kubernetesSDConfigs", spec.KubernetesSDConfigs, kubernetesSDConfig),
		convertAll(&sds, s, "consul_sd_configs", "consulSDConfigs", spec.ConsulSDConfigs, consulSD),
		convertAll(&sds, s, "dns_sd_configs", "dnsSDConfigs", spec.DNSSDConfigs, dnsSD),
		convertAll(&sds, s, "ec2_sd_configs", "ec2SDConfigs", spec.EC2SDConfigs, ec2SD),
		convertAll(&sds, s, "azure_sd_configs", "azureSDConfigs", spec.AzureSDConfigs, azureSD),
		convertAll(&sds, s, "gce_sd_configs", "gceSDConfigs", spec.GCESDConfigs, gceSD),
	} {
		if err != nil {
			return nil, err
		}
	}
	return g.job(name, s, sds, e, relabelings)
}

// convertAll adds the SD configurations of a field of the spec to sds, under key, each reading its
// credentials under field[i].
func convertAll[T any](sds *[]yaml.MapItem, s namespaced, key, field string, configs []T, convert func(namespaced, T) (yaml.MapSlice, error)) error {
	if len(configs) == 0 {
		return nil
	}
	out := make([]yaml.MapSlice, 0, len(configs))
	for i, c := range configs {
		sd, err := convert(s.at(fmt.Sprintf("%s[%d].", field, i)), c)
		if err != nil {
			return err
		}
		out = append(out, sd)
	}
	*sds = append(*sds, yaml.MapItem{Key: key, Value: out})
	return nil
}

// sdProviders are the service discoveries of a ScrapeConfig by the fields of its spec: first those this
// project has discoverers for, with the name Prometheus registers each under and the build tag that brings
// it into a build without them all (file and http are in every build; static_configs are no provider).
var sdProviders = []struct {
	field, provider, tag, name string
	count                      func(*monitoringv1alpha1.ScrapeConfigSpec) int
}{
	{"fileSDConfigs", "file", "", "File", func(s *monitoringv1alpha1.ScrapeConfigSpec) int { return len(s.FileSDConfigs) }},
	{"httpSDConfigs", "http", "", "HTTP", func(s *monitoringv1alpha1.ScrapeConfigSpec) int { return len(s.HTTPSDConfigs) }},
	{"kubernetesSDConfigs", "kubernetes", "kubernetes", "Kubernetes", func(s *monitoringv1alpha1.ScrapeConfigSpec) int { return len(s.KubernetesSDConfigs) }},
	{"consulSDConfigs", "consul", "consul", "Consul", func(s *monitoringv1alpha1.ScrapeConfigSpec) int { return len(s.ConsulSDConfigs) }},
	{"dnsSDConfigs", "dns", "dns", "DNS", func(s *monitoringv1alpha1.ScrapeConfigSpec) int { return len(s.DNSSDConfigs) }},
	{"ec2SDConfigs", "ec2", "aws", "EC2", func(s *monitoringv1alpha1.ScrapeConfigSpec) int { return len(s.EC2SDConfigs) }},
	{"azureSDConfigs", "azure", "azure", "Azure", func(s *monitoringv1alpha1.ScrapeConfigSpec) int { return len(s.AzureSDConfigs) }},
	{"gceSDConfigs", "gce", "gce", "GCE", func(s *monitoringv1alpha1.ScrapeConfigSpec) int { return len(s.GCESDConfigs) }},
	// Those this project has no discoverer for.
	{"openstackSDConfigs", "", "", "OpenStack", func(s *monitoringv1alpha1.ScrapeConfigSpec) int { return len(s.OpenStackSDConfigs) }},
	{"digitalOceanSDConfigs", "", "", "DigitalOcean", func(s *monitoringv1alpha1.ScrapeConfigSpec) int { return len(s.DigitalOceanSDConfigs) }},
	{"kumaSDConfigs", "", "", "Kuma", func(s *monitoringv1alpha1.ScrapeConfigSpec) int { return len(s.KumaSDConfigs) }},
	{"eurekaSDConfigs", "", "", "Eureka", func(s *monitoringv1alpha1.ScrapeConfigSpec) int { return len(s.EurekaSDConfigs) }},
	{"dockerSDConfigs", "", "", "Docker", func(s *monitoringv1alpha1.ScrapeConfigSpec) int { return len(s.DockerSDConfigs) }},
	{"linodeSDConfigs", "", "", "Linode", func(s *monitoringv1alpha1.ScrapeConfigSpec) int { return len(s.LinodeSDConfigs) }},
	{"hetznerSDConfigs", "", "", "Hetzner", func(s *monitoringv1alpha1.ScrapeConfigSpec) int { return len(s.HetznerSDConfigs) }},
	{"nomadSDConfigs", "", "", "Nomad", func(s *monitoringv1alpha1.ScrapeConfigSpec) int { return len(s.NomadSDConfigs) }},
	{"dockerSwarmSDConfigs", "", "", "Docker Swarm", func(s *monitoringv1alpha1.ScrapeConfigSpec) int { return len(s.DockerSwarmSDConfigs) }},
	{"puppetDBSDConfigs", "", "", "PuppetDB", func(s *monitoringv1alpha1.ScrapeConfigSpec) int { return len(s.PuppetDBSDConfigs) }},
	{"lightSailSDConfigs", "", "", "Lightsail", func(s *monitoringv1alpha1.ScrapeConfigSpec) int { return len(s.LightSailSDConfigs) }},
	{"ovhcloudSDConfigs", "", "", "OVHcloud", func(s *monitoringv1alpha1.ScrapeConfigSpec) int { return len(s.OVHCloudSDConfigs) }},
	{"scalewaySDConfigs", "", "", "Scaleway", func(s *monitoringv1alpha1.ScrapeConfigSpec) int { return len(s.ScalewaySDConfigs) }},
	{"ionosSDConfigs", "", "", "IONOS", func(s *monitoringv1alpha1.ScrapeConfigSpec) int { return len(s.IonosSDConfigs) }},
}

// unsupportedSDs refuses the service discoveries this project has no discoverer for, and those this
// build leaves out (its tags remove_all_sd and enable_<name>_sd).
func unsupportedSDs(spec monitoringv1alpha1.ScrapeConfigSpec) error {
	for _, sd := range sdProviders {
		switch {
		case sd.count(&spec) == 0:
		case sd.provider == "":
			return fmt.Errorf("spec.%s: %s discovery is not supported", sd.field, sd.name)
		case !slices.Contains(promdiscovery.RegisteredConfigNames(), sd.provider):
			return fmt.Errorf("spec.%s: %s discovery is not in this build (built with -tags remove_all_sd; add enable_%s_sd)", sd.field, sd.name, sd.tag)
		}
	}
	return nil
}

func staticConfig(_ namespaced, c monitoringv1alpha1.StaticConfig) (yaml.MapSlice, error) {
	return yaml.MapSlice{{Key: "targets", Value: c.Targets}, {Key: "labels", Value: c.Labels}}, nil
}

func fileSD(_ namespaced, c monitoringv1alpha1.FileSDConfig) (yaml.MapSlice, error) {
	return set(yaml.MapSlice{{Key: "files", Value: c.Files}}, "refresh_interval", c.RefreshInterval), nil
}

func httpSD(s namespaced, c monitoringv1alpha1.HTTPSDConfig) (yaml.MapSlice, error) {
	cfg, err := s.http(yaml.MapSlice{{Key: "url", Value: c.URL}}, sdClient(c.BasicAuth, c.Authorization, c.OAuth2, c.ProxyConfig, c.TLSConfig, c.FollowRedirects, c.EnableHTTP2))
	return set(cfg, "refresh_interval", c.RefreshInterval), err
}

// sdClient is the HTTP client of a service discovery.
func sdClient(basic *monitoringv1.BasicAuth, authz *monitoringv1.SafeAuthorization, oauth2 *monitoringv1.OAuth2,
	proxy monitoringv1.ProxyConfig, tls *monitoringv1.SafeTLSConfig, followRedirects, http2 *bool,
) httpClient {
	return httpClient{HTTPConfigWithoutTLS: monitoringv1.HTTPConfigWithoutTLS{
		BasicAuth: basic, Authorization: authz, OAuth2: oauth2, FollowRedirects: followRedirects, EnableHTTP2: http2,
	}, proxy: proxy, tls: safeTLS(tls)}
}

// kubernetesSDConfig is a kubernetesSDConfigs item; one without apiServer reaches the Generator's
// APIServer. attachMetadata is kept for the roles Prometheus attaches metadata to, as the operator does.
func kubernetesSDConfig(s namespaced, c monitoringv1alpha1.KubernetesSDConfig) (yaml.MapSlice, error) {
	role := strings.ToLower(string(c.Role))
	cfg := set(yaml.MapSlice{}, "api_server", c.APIServer)
	cfg, err := s.http(append(cfg, yaml.MapItem{Key: "role", Value: role}),
		sdClient(c.BasicAuth, c.Authorization, c.OAuth2, c.ProxyConfig, c.TLSConfig, c.FollowRedirects, c.EnableHTTP2))
	if err != nil {
		return nil, err
	}
	if ns := c.Namespaces; ns != nil {
		cfg = append(cfg, yaml.MapItem{Key: "namespaces", Value: set(yaml.MapSlice{{Key: "names", Value: ns.Names}}, "own_namespace", ns.IncludeOwnNamespace)})
	}
	if len(c.Selectors) > 0 {
		var selectors []yaml.MapSlice
		for _, sel := range c.Selectors {
			selectors = append(selectors, set(set(yaml.MapSlice{{Key: "role", Value: strings.ToLower(string(sel.Role))}}, "label", sel.Label), "field", sel.Field))
		}
		cfg = append(cfg, yaml.MapItem{Key: "selectors", Value: selectors})
	}
	if c.AttachMetadata != nil && slices.Contains([]string{"pod", RoleEndpoints, RoleEndpointSlice}, role) {
		cfg = append(cfg, yaml.MapItem{Key: "attach_metadata", Value: yaml.MapSlice{{Key: "node", Value: c.AttachMetadata.Node}}})
	}
	return cfg, nil
}

func consulSD(s namespaced, c monitoringv1alpha1.ConsulSDConfig) (yaml.MapSlice, error) {
	cfg, err := s.http(yaml.MapSlice{{Key: "server", Value: c.Server}},
		sdClient(c.BasicAuth, c.Authorization, c.OAuth2, c.ProxyConfig, c.TLSConfig, c.FollowRedirects, c.EnableHttp2))
	if err != nil {
		return nil, err
	}
	cfg = set(cfg, "path_prefix", c.PathPrefix)
	if c.TokenRef != nil {
		token, err := s.secret("tokenRef", *c.TokenRef)
		if err != nil {
			return nil, err
		}
		cfg = append(cfg, yaml.MapItem{Key: "token", Value: token})
	}
	cfg = set(set(set(cfg, "datacenter", c.Datacenter), "namespace", c.Namespace), "partition", c.Partition)
	if c.Scheme != nil {
		cfg = append(cfg, yaml.MapItem{Key: "scheme", Value: c.Scheme.String()})
	}
	if len(c.Services) > 0 {
		cfg = append(cfg, yaml.MapItem{Key: "services", Value: c.Services})
	}
	if len(c.Tags) > 0 {
		cfg = append(cfg, yaml.MapItem{Key: "tags", Value: c.Tags})
	}
	cfg = set(cfg, "tag_separator", c.TagSeparator)
	if len(c.NodeMeta) > 0 {
		cfg = append(cfg, yaml.MapItem{Key: "node_meta", Value: c.NodeMeta})
	}
	cfg = set(set(set(cfg, "filter", c.Filter), "health_filter", c.HealthFilter), "allow_stale", c.AllowStale)
	return set(cfg, "refresh_interval", c.RefreshInterval), nil
}

func dnsSD(_ namespaced, c monitoringv1alpha1.DNSSDConfig) (yaml.MapSlice, error) {
	cfg := set(yaml.MapSlice{{Key: "names", Value: c.Names}}, "refresh_interval", c.RefreshInterval)
	return set(set(cfg, "type", c.Type), "port", c.Port), nil
}

// ec2SD is an ec2SDConfigs item: its access and secret keys only together, its filters by name.
func ec2SD(s namespaced, c monitoringv1alpha1.EC2SDConfig) (yaml.MapSlice, error) {
	cfg := set(yaml.MapSlice{}, "region", c.Region)
	if c.AccessKey != nil && c.SecretKey != nil {
		access, err := s.secret("accessKey", *c.AccessKey)
		if err != nil {
			return nil, err
		}
		secret, err := s.secret("secretKey", *c.SecretKey)
		if err != nil {
			return nil, err
		}
		cfg = append(cfg, yaml.MapItem{Key: "access_key", Value: access}, yaml.MapItem{Key: "secret_key", Value: secret})
	}
	cfg = set(set(set(cfg, "role_arn", c.RoleARN), "refresh_interval", c.RefreshInterval), "port", c.Port)
	if len(c.Filters) > 0 {
		var filters []yaml.MapSlice
		for _, f := range slices.SortedStableFunc(slices.Values(c.Filters), func(a, b monitoringv1alpha1.Filter) int { return cmp.Compare(a.Name, b.Name) }) {
			filters = append(filters, yaml.MapSlice{{Key: "name", Value: f.Name}, {Key: "values", Value: f.Values}})
		}
		cfg = append(cfg, yaml.MapItem{Key: "filters", Value: filters})
	}
	return s.http(cfg, sdClient(nil, nil, nil, c.ProxyConfig, c.TLSConfig, c.FollowRedirects, c.EnableHTTP2))
}

// azureSD is an azureSDConfigs item. Unlike the operator's generator, whose environment replaces what was
// written before it and which leaves out tlsConfig, it keeps the HTTP client's settings and its TLS.
func azureSD(s namespaced, c monitoringv1alpha1.AzureSDConfig) (yaml.MapSlice, error) {
	cfg, err := s.http(yaml.MapSlice{}, sdClient(c.BasicAuth, c.Authorization, c.OAuth2, c.ProxyConfig, c.TLSConfig, nil, nil))
	if err != nil {
		return nil, err
	}
	cfg = set(set(cfg, "environment", c.Environment), "authentication_method", c.AuthenticationMethod)
	if c.SubscriptionID != "" {
		cfg = append(cfg, yaml.MapItem{Key: "subscription_id", Value: c.SubscriptionID})
	}
	cfg = set(set(cfg, "tenant_id", c.TenantID), "client_id", c.ClientID)
	if c.ClientSecret != nil {
		secret, err := s.secret("clientSecret", *c.ClientSecret)
		if err != nil {
			return nil, err
		}
		cfg = append(cfg, yaml.MapItem{Key: "client_secret", Value: secret})
	}
	return set(set(set(cfg, "resource_group", c.ResourceGroup), "refresh_interval", c.RefreshInterval), "port", c.Port), nil
}

func gceSD(_ namespaced, c monitoringv1alpha1.GCESDConfig) (yaml.MapSlice, error) {
	cfg := set(yaml.MapSlice{{Key: "project", Value: c.Project}, {Key: "zone", Value: c.Zone}}, "filter", c.Filter)
	return set(set(set(cfg, "refresh_interval", c.RefreshInterval), "port", c.Port), "tag_separator", c.TagSeparator), nil
}
