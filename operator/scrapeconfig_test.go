package operator

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	monitoringv1alpha1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1alpha1"
	promconfig "github.com/prometheus/prometheus/config"
	promdiscovery "github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/kubernetes"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v2"
	k8syaml "sigs.k8s.io/yaml"
)

// The stores of the operator's ScrapeConfig tests, one per test function of its promcfg_test.go, each with
// the Secrets that its TLS cases name by file (/etc/prometheus/certs/0_default_tls_<key>, whose content is
// the key) and its OAuth2 client.
func scrapeStore(secrets mapStore) mapStore {
	s := mapStore{"configmap/default/oauth2/client_id": "client-id", "secret/default/oauth2/client_secret": "client-secret"}
	for _, key := range []string{"ca", "ca2", "cert", "key", "private-key"} {
		s["secret/default/tls/"+key] = key
	}
	maps.Copy(s, secrets)
	return s
}

var (
	// TestScrapeConfigSpecConfig's.
	specStore = scrapeStore(mapStore{
		"secret/default/foo/proxy-header": "value", "secret/default/foo/token": "value",
		"secret/default/foo/username": "scrape-bob", "secret/default/foo/password": "scrape-alice",
		"secret/default/foo/username-sd": "http-sd-bob", "secret/default/foo/password-sd": "http-sd-alice",
		"secret/default/bar/proxy-header": "bar-value", "secret/default/bar/token": "bar-value",
		"secret/default/auth/scrape-key": "scrape-secret", "secret/default/auth/http-sd-key": "http-sd-secret",
	})
	// TestScrapeConfigSpecConfigWithHTTPSD's and TestScrapeConfigSpecConfigWithKubernetesSD's. The proxy
	// case of the first names a Secret the operator's store lacks, which the operator writes as "" (here a
	// missing Secret refuses the object): this one has it empty.
	httpStore = scrapeStore(mapStore{
		"secret/default/secret/proxy-header": "value", "secret/default/secret/token": "value",
		"secret/default/secret/Username": "kube-admin", "secret/default/secret/Password": "password",
		"secret/default/foo/proxy-header": "",
	})
	// TestScrapeConfigSpecConfigWithConsulSD's.
	consulStore = scrapeStore(mapStore{
		"secret/default/foo/proxy-header": "value", "secret/default/foo/token": "value",
		"secret/default/foo/username": "consul-sd-bob", "secret/default/foo/password": "consul-sd-alice",
		"secret/default/auth/token": "secret",
	})
	// TestScrapeConfigSpecConfigWithEC2SD's, its proxy case's Secret empty likewise.
	ec2Store = scrapeStore(mapStore{
		"secret/default/aws-access-api/accessKey": "access-key", "secret/default/aws-access-api/secretKey": "secret-key",
		"secret/default/secret/proxy-header": "",
	})
	// TestScrapeConfigSpecConfigWithAzureSD's.
	azureStore = scrapeStore(mapStore{
		"secret/default/secret/proxy-header": "value", "secret/default/secret/token": "value",
		"secret/default/secret/credential": "00000000-0000-0000-0000-000000000000", "secret/default/secret/clientSecret": "my-secret",
		"secret/default/foo/username": "value", "secret/default/foo/password": "value",
	})
)

// Parts of the specs of the operator's tests, in the object's YAML.
const (
	scProxy      = `proxyUrl: http://no-proxy.com, noProxy: 0.0.0.0, proxyFromEnvironment: false, proxyConnectHeader: {header: [{name: %s, key: proxy-header}]}`
	scOAuth2     = `oauth2: {clientId: {configMap: {name: oauth2, key: client_id}}, clientSecret: {name: oauth2, key: client_secret}, tokenUrl: http://test.url, scopes: [scope 1, scope 2], endpointParams: {param1: value1, param2: value2}}`
	scTLS        = `tlsConfig: {ca: {secret: {name: tls, key: ca}}, cert: {secret: {name: tls, key: cert}}, keySecret: {name: tls, key: private-key}}`
	scBasicAuth  = `basicAuth: {username: {name: %[1]s, key: %[2]s}, password: {name: %[1]s, key: %[3]s}}`
	scAuthz      = `authorization: {credentials: {name: %s, key: %s}}`
	scRelabeling = `relabelings: [{action: Replace, regex: "(.+)(?::d+)", replacement: "$1:9537", sourceLabels: [__address__], targetLabel: __address__}]`
	scAPIServer  = `role: Node, apiServer: https://kubernetes.default.svc, `
)

// sd is the spec of one service discovery of the field.
func sd(field, config string) string { return fmt.Sprintf("{%s: [{%s}]}", field, config) }

// The cases are the tests of the operator's pkg/prometheus/promcfg_test.go named as their golden files, for
// the service discoveries of this project and for Prometheus 3 (the cases of older versions are left out),
// each ScrapeConfig testscrapeconfig1 of namespace default.
var scrapeConfigCases = []struct {
	golden string
	store  mapStore
	spec   string
}{
	// TestScrapeConfigSpecConfig
	{"ScrapeConfigSpecConfig_Empty", specStore, `{}`},
	{"ScrapeConfigSpecConfig_WithJobName", specStore, `{jobName: explicit-test-scrape-config3}`},
	{"ScrapeConfigSpecConfig_WithJobNameAndRelabelConfig", specStore, `{jobName: explicit-test-scrape-config5, ` + scRelabeling + `}`},
	{"ScrapeConfigSpecConfig_Static", specStore, `{staticConfigs: [{targets: ["localhost:9100"], labels: {label1: value1}}]}`},
	{"ScrapeConfigSpecConfig_FileSD", specStore, sd("fileSDConfigs", `files: [/tmp/myfile.json], refreshInterval: 5m`)},
	{"ScrapeConfigSpecConfig_HTTPSD", specStore, sd("httpSDConfigs", `url: "http://localhost:9100/sd.json", refreshInterval: 5m, `+fmt.Sprintf(scProxy, "foo"))},
	{"ScrapeConfigSpecConfig_MetricPath", specStore, `{metricsPath: /metrics}`},
	{"ScrapeConfigSpecConfig_EmptyRelabelConfig", specStore, `{relabelings: []}`},
	{"ScrapeConfigSpecConfig_NonEmptyRelabelConfig", specStore, `{` + scRelabeling + `}`},
	{"ScrapeConfigSpecConfig_HonorTimeStamp", specStore, `{honorTimestamps: true}`},
	{"ScrapeConfigSpecConfig_TrackTimestampsStaleness", specStore, `{trackTimestampsStaleness: true}`},
	{"ScrapeConfigSpecConfig_HonorLabels", specStore, `{honorLabels: true}`},
	{"ScrapeConfigSpecConfig_BasicAuth", specStore, `{` + fmt.Sprintf(scBasicAuth, "foo", "username", "password") + `, httpSDConfigs: [{url: "http://localhost:9100/sd.json", ` +
		fmt.Sprintf(scBasicAuth, "foo", "username-sd", "password-sd") + `}]}`},
	{"ScrapeConfigSpecConfig_Authorization", specStore, `{` + fmt.Sprintf(scAuthz, "auth", "scrape-key") + `, httpSDConfigs: [{url: "http://localhost:9100/sd.json", ` +
		fmt.Sprintf(scAuthz, "auth", "http-sd-key") + `}]}`},
	{"ScrapeConfigSpecConfig_Inline_TLSConfig", specStore, `{` + scTLS + `, httpSDConfigs: [{url: "http://localhost:9100/sd.json", ` +
		`tlsConfig: {insecureSkipVerify: false, ca: {secret: {name: tls, key: ca2}}}}]}`},
	{"ScrapeConfigSpecConfig_TLSConfig", specStore, `{` + scTLS + `, httpSDConfigs: [{url: "http://localhost:9100/sd.json", ` +
		`tlsConfig: {insecureSkipVerify: true, ca: {secret: {name: tls, key: ca2}}}}]}`},
	{"ScrapeConfigSpecConfig_Scheme", specStore, `{scheme: HTTPS}`},
	{"ScrapeConfigSpecConfig_Limits", specStore, `{sampleLimit: 10000, targetLimit: 1000, labelLimit: 50, labelNameLengthLimit: 40, labelValueLengthLimit: 30}`},
	{"ScrapeConfigSpecConfig_Params", specStore, `{metricsPath: /federate, params: {"match[]": ['{job="prometheus"}', '{__name__=~"job:.*"}']}}`},
	{"ScrapeConfigSpecConfig_ScrapeInterval", specStore, `{scrapeInterval: 15s}`},
	{"ScrapeConfigSpecConfig_ScrapeTimeout", specStore, `{scrapeTimeout: 10s}`},
	{"ScrapeConfigSpecConfig_ScrapeProtocols", specStore, `{scrapeProtocols: [PrometheusProto, OpenMetricsText1.0.0, OpenMetricsText0.0.1, PrometheusText0.0.4]}`},
	{"ScrapeConfigSpecConfig_ScrapeFallbackProtocol", specStore, `{fallbackScrapeProtocol: OpenMetricsText1.0.0}`},
	{"ScrapeConfigSpecConfig_NonEmptyMetricRelabelConfig", specStore, `{metricRelabelings: [{regex: noisy_labels.*, action: labeldrop}]}`},
	{"ScrapeConfigSpecConfig_ProxySettings", specStore, `{` + fmt.Sprintf(scProxy, "foo") + `}`},
	{"ScrapeConfigSpecConfig_ProxySettingsWithMutiProxyConnectHeaderValues", specStore, `{proxyUrl: http://no-proxy.com, noProxy: 0.0.0.0, proxyFromEnvironment: false,
	  proxyConnectHeader: {header: [{name: foo, key: proxy-header}, {name: foo, key: token}, {name: bar, key: proxy-header}], token: [{name: foo, key: token}, {name: bar, key: token}]}}`},
	{"ScrapeConfigSpecConfig_DNSSD_SRVRecord", specStore, sd("dnsSDConfigs", `names: [web.example.com]`)},
	{"ScrapeConfigSpecConfig_DNSSD_ARecord", specStore, sd("dnsSDConfigs", `names: [node.demo.do.prometheus.io], type: A, port: 9100`)},
	{"ScrapeConfigSpecConfig_DNSSD_NSRecord", specStore, sd("dnsSDConfigs", `names: [node.demo.do.prometheus.io], type: NS, port: 9100`)},
	{"ScrapeConfigSpecConfig_DNSSD_MXRecord", specStore, sd("dnsSDConfigs", `names: [node.demo.do.prometheus.io], type: MX, port: 9100`)},
	{"ScrapeConfigSpecConfig_EnableCompression_True", specStore, `{enableCompression: true}`},
	{"ScrapeConfigSpecConfig_EnableCompression_False", specStore, `{enableCompression: false}`},
	{"ScrapeConfigSpecConfig_EnableHTTP2_True", specStore, `{enableHTTP2: true}`},
	{"ScrapeConfigSpecConfig_EnableHTTP2_False", specStore, `{enableHTTP2: false}`},
	{"ScrapeConfigSpecConfig_WithOAuth", specStore, `{` + scOAuth2 + `}`},
	{"NameValidationScheme_utf8", specStore, `{nameValidationScheme: UTF8}`},
	{"NameValidationScheme_legacy", specStore, `{nameValidationScheme: Legacy}`},
	{"NameEscapingScheme_AllowUTF8", specStore, `{nameEscapingScheme: AllowUTF8}`},
	{"NameEscapingScheme_Underscores", specStore, `{nameEscapingScheme: Underscores}`},
	{"NameEscapingScheme_Dots", specStore, `{nameEscapingScheme: Dots}`},
	{"NameEscapingScheme_Values", specStore, `{nameEscapingScheme: Values}`},
	// TestScrapeConfigSpecConfigWithHTTPSD
	{"ScrapeConfigSpecConfig_HTTPSD_with_ProxyConfig", httpStore, sd("httpSDConfigs", `url: "http://localhost:9100/sd.json", followRedirects: true, enableHTTP2: true, `+fmt.Sprintf(scProxy, "foo"))},
	{"ScrapeConfigSpecConfig_HTTPSD_with_BasicAuth", httpStore, sd("httpSDConfigs", `url: "http://localhost:9100/sd.json", `+fmt.Sprintf(scBasicAuth, "secret", "Username", "Password"))},
	{"ScrapeConfigSpecConfig_HTTPSD_with_Authorization", httpStore, sd("httpSDConfigs", `url: "http://localhost:9100/sd.json", `+fmt.Sprintf(scAuthz, "secret", "token"))},
	{"ScrapeConfigSpecConfig_HTTPSD_with_OAuth", httpStore, sd("httpSDConfigs", `url: "http://localhost:9100/sd.json", `+scOAuth2)},
	{"ScrapeConfigSpecConfig_HTTPSD_with_TLSConfig", httpStore, sd("httpSDConfigs", `url: "http://localhost:9100/sd.json", `+scTLS)},
	// TestScrapeConfigSpecConfigWithKubernetesSD
	{"ScrapeConfigSpecConfig_K8SSD", httpStore, sd("kubernetesSDConfigs", scAPIServer+fmt.Sprintf(scProxy, "secret")+`, followRedirects: true, enableHTTP2: true`)},
	{"ScrapeConfigSpecConfig_K8SSD_with_NamespaceDiscovery_and_OwnNamespace", httpStore, sd("kubernetesSDConfigs", `role: Pod, namespaces: {ownNamespace: true, names: [ns1, ns2]}`)},
	{"ScrapeConfigSpecConfig_K8SSD_with_NamespaceDiscovery", httpStore, sd("kubernetesSDConfigs", `role: Pod, namespaces: {names: [ns1, ns2]}`)},
	{"ScrapeConfigSpecConfig_K8SSD_with_AttachMetadata", httpStore, sd("kubernetesSDConfigs", `role: Pod, attachMetadata: {node: true}`)},
	{"ScrapeConfigSpecConfig_K8SSD_with_Unsupported_Role_AttachMetadata", httpStore, sd("kubernetesSDConfigs", `role: Service, attachMetadata: {node: true}`)},
	{"ScrapeConfigSpecConfig_K8SSD_with_Selectors", httpStore, sd("kubernetesSDConfigs", `role: Node, selectors: [{role: Node, label: component=executor}]`)},
	{"ScrapeConfigSpecConfig_K8SSD_with_BasicAuth", httpStore, sd("kubernetesSDConfigs", scAPIServer+fmt.Sprintf(scBasicAuth, "secret", "Username", "Password"))},
	{"ScrapeConfigSpecConfig_K8SSD_with_Authorization", httpStore, sd("kubernetesSDConfigs", scAPIServer+fmt.Sprintf(scAuthz, "secret", "token"))},
	{"ScrapeConfigSpecConfig_K8SSD_with_OAuth", httpStore, sd("kubernetesSDConfigs", scAPIServer+scOAuth2)},
	{"ScrapeConfigSpecConfig_K8SSD_with_TLSConfig", httpStore, sd("kubernetesSDConfigs", scAPIServer+scTLS)},
	// TestScrapeConfigSpecConfigWithConsulSD
	{"ConsulScrapeConfig", consulStore, sd("consulSDConfigs", `server: localhost, datacenter: we1, namespace: observability, partition: "1", scheme: HTTPS,
	  services: [prometheus, alertmanager], tags: [tag1], tagSeparator: ";", nodeMeta: {service: service_name, name: node_name}, allowStale: false,
	  refreshInterval: 30s, followRedirects: true, enableHTTP2: true, tokenRef: {name: foo, key: token}, `+fmt.Sprintf(scProxy, "foo"))},
	{"ConsulScrapeConfigWithFilter", consulStore, sd("consulSDConfigs", `server: localhost, filter: 'Meta.env == "qa"'`)},
	{"ConsulScrapeConfigWithHealthFilter", consulStore, sd("consulSDConfigs", `server: localhost, healthFilter: 'Service.Meta.env == "prod"'`)},
	{"ConsulScrapeConfigBasicAuth", consulStore, sd("consulSDConfigs", `server: "localhost:8500", `+fmt.Sprintf(scBasicAuth, "foo", "username", "password"))},
	{"ConsulScrapeConfigAuthorization", consulStore, sd("consulSDConfigs", `server: "localhost:8500", `+fmt.Sprintf(scAuthz, "auth", "token"))},
	{"ConsulScrapeConfigOAuth", consulStore, sd("consulSDConfigs", `server: "localhost:8500", `+scOAuth2)},
	{"ConsulScrapeConfigTLSConfig", consulStore, sd("consulSDConfigs", `server: "localhost:8500", `+scTLS)},
	{"ConsulScrapeConfigPathPrefix", consulStore, sd("consulSDConfigs", `server: server, pathPrefix: example-path-prefix`)},
	{"ConsulScrapeConfigNamespace", consulStore, sd("consulSDConfigs", `server: server, namespace: example-namespace`)},
	// TestScrapeConfigSpecConfigWithEC2SD
	{"ScrapeConfigSpecConfig_EC2SDConfigValidAPIKeys", ec2Store, sd("ec2SDConfigs", `region: us-east-1, accessKey: {name: aws-access-api, key: accessKey},
	  secretKey: {name: aws-access-api, key: secretKey}, refreshInterval: 30s, port: 9100`)},
	{"ScrapeConfigSpecConfig_EC2SDConfigValidRoleARN", ec2Store, sd("ec2SDConfigs", `region: us-east-1, roleARN: "arn:aws:iam::123456789:role/prometheus-role", refreshInterval: 30s, port: 9100`)},
	{"ScrapeConfigSpecConfig_EC2SDConfigFilters", ec2Store, sd("ec2SDConfigs", `region: us-east-1, roleARN: "arn:aws:iam::123456789:role/prometheus-role", refreshInterval: 30s, port: 9100,
	  filters: [{name: "tag:environment", values: [prod]}, {name: "tag:service", values: [web, db]}]`)},
	{"ScrapeConfigSpecConfig_EC2SDConfigEmpty", ec2Store, `{ec2SDConfigs: []}`},
	{"ScrapeConfigSpecConfig_EC2SD_withProxyConfig", ec2Store, sd("ec2SDConfigs", `region: us-east-1, refreshInterval: 30s, followRedirects: true, enableHTTP2: true, `+fmt.Sprintf(scProxy, "secret"))},
	{"ScrapeConfigSpecConfig_EC2SD_with_TLSConfig", ec2Store, sd("ec2SDConfigs", `region: us-east-1, followRedirects: true, enableHTTP2: true, `+scTLS)},
	// TestScrapeConfigSpecConfigWithAzureSD
	{"ScrapeConfigSpecConfig_AzureSDConfigValid", azureStore, sd("azureSDConfigs", `environment: AzurePublicCloud, authenticationMethod: OAuth, subscriptionID: 11AAAA11-A11A-111A-A111-1111A1111A11,
	  tenantID: BBBB222B-B2B2-2B22-B222-2BB2222BB2B2, clientID: 333333CC-3C33-3333-CCC3-33C3CCCCC33C, clientSecret: {name: secret, key: clientSecret},
	  resourceGroup: my-resource-group, refreshInterval: 30s, port: 9100`)},
	{"ScrapeConfigSpecConfig_AzureSDConfigValid_SDKAuth", azureStore, sd("azureSDConfigs", `environment: AzurePublicCloud, authenticationMethod: SDK, subscriptionID: 11AAAA11-A11A-111A-A111-1111A1111A11,
	  resourceGroup: my-resource-group, refreshInterval: 30s, port: 9100`)},
	{"ScrapeConfigSpecConfig_AzureSDConfigValid_ManagedIdentityAuth", azureStore, sd("azureSDConfigs", `environment: AzurePublicCloud, authenticationMethod: ManagedIdentity, subscriptionID: 11AAAA11-A11A-111A-A111-1111A1111A11`)},
	{"ScrapeConfigSpecConfig_AzureSDConfigValidWithSubscriptionID", azureStore, sd("azureSDConfigs", `subscriptionID: 11AAAA11-A11A-111A-A111-1111A1111A11, authenticationMethod: SDK`)},
	{"ScrapeConfigSpecConfig_AzureSDConfigValid_http_config", azureStore, sd("azureSDConfigs", `subscriptionID: 11AAAA11-A11A-111A-A111-1111A1111A11, authenticationMethod: SDK,
	  `+fmt.Sprintf(scAuthz, "secret", "credential")+`, `+fmt.Sprintf(scProxy, "secret"))},
	{"ScrapeConfigSpecConfig_AzureSDConfigValid_basic_auth_and_TLS", azureStore, sd("azureSDConfigs", `subscriptionID: 11AAAA11-A11A-111A-A111-1111A1111A11, authenticationMethod: SDK,
	  tlsConfig: {ca: {secret: {name: tls, key: ca}}, cert: {secret: {name: tls, key: cert}}, keySecret: {name: tls, key: key}}, `+fmt.Sprintf(scBasicAuth, "foo", "username", "password"))},
	{"ScrapeConfigSpecConfig_AzureSDConfigValid_with_oauth2", azureStore, sd("azureSDConfigs", `subscriptionID: 11AAAA11-A11A-111A-A111-1111A1111A11, authenticationMethod: SDK, `+scOAuth2)},
	{"ScrapeConfigSpecConfig_AzureSDConfigEmpty", azureStore, `{ec2SDConfigs: []}`},
	{"ScrapeConfigSpecConfig_AzureSDConfigValid_WorkloadIdentityAuth", azureStore, sd("azureSDConfigs", `environment: AzurePublicCloud, authenticationMethod: WorkloadIdentity, subscriptionID: 11AAAA11-A11A-111A-A111-1111A1111A11`)},
	// TestScrapeConfigSpecConfigWithGCESD
	{"ScrapeConfigSpecConfig_GCESDConfigValid", nil, sd("gceSDConfigs", `project: devops-dev, zone: us-west-1, refreshInterval: 30s, port: 9100`)},
	{"ScrapeConfigSpecConfig_GCESDConfigValid_all_options", nil, sd("gceSDConfigs", `project: devops-dev, zone: us-west-1, refreshInterval: 30s, port: 9100, filter: filter-expression, tagSeparator: tag-value`)},
	{"ScrapeConfigSpecConfig_GCESDConfigValidRequiredFields", nil, sd("gceSDConfigs", `project: devops-dev, zone: us-west-1`)},
	{"ScrapeConfigSpecConfig_GCESDConfigEmpty", nil, `{gceSDConfigs: []}`},
}

// The deliberate differences from the operator's output: the TLS of an Azure discovery, which its
// generator leaves out.
var scrapeConfigDeviations = map[string]func(job map[any]any){
	"ScrapeConfigSpecConfig_AzureSDConfigValid_basic_auth_and_TLS": func(job map[any]any) {
		azure := job["azure_sd_configs"].([]any)[0].(map[any]any)
		azure["tls_config"] = map[any]any{"ca": "ca", "cert": "cert", "key": "key"}
	},
}

// The job generated for each of the operator's ScrapeConfig test cases is that of its golden file (less
// the deviations above), and a valid Prometheus scrape_config.
func TestScrapeConfigGolden(t *testing.T) {
	for _, tc := range scrapeConfigCases {
		t.Run(tc.golden, func(t *testing.T) {
			var sc monitoringv1alpha1.ScrapeConfig
			require.NoError(t, k8syaml.UnmarshalStrict([]byte(tc.spec), &sc.Spec))
			sc.Namespace, sc.Name = "default", "testscrapeconfig1"
			job, _, err := (&Generator{Store: tc.store}).scrapeConfigJob(&sc)
			if left := leftOut(sc.Spec); left != "" {
				require.ErrorContains(t, err, left) // a build with -tags remove_all_sd
				return
			}
			require.NoError(t, err)
			want := goldenJobs(t, tc.golden+".golden", tc.store)
			if deviate := scrapeConfigDeviations[tc.golden]; deviate != nil {
				deviate(want[0].(map[any]any))
			}
			require.Equal(t, want, generic(t, []yaml.MapSlice{job}))
		})
	}
}

// Each service discovery this project has no discoverer for refuses the object, naming the field; so
// does a missing Secret, naming the field it is read for.
func TestScrapeConfigRefused(t *testing.T) {
	for spec, want := range map[string]string{
		sd("openstackSDConfigs", `role: Instance, region: r1`):                 "spec.openstackSDConfigs: OpenStack discovery is not supported",
		sd("digitalOceanSDConfigs", ``):                                        "spec.digitalOceanSDConfigs: DigitalOcean discovery is not supported",
		sd("kumaSDConfigs", `server: "http://kuma:5676"`):                      "spec.kumaSDConfigs: Kuma discovery is not supported",
		sd("eurekaSDConfigs", `server: "http://eureka:8761"`):                  "spec.eurekaSDConfigs: Eureka discovery is not supported",
		sd("dockerSDConfigs", `host: "unix:///var/run/docker.sock"`):           "spec.dockerSDConfigs: Docker discovery is not supported",
		sd("linodeSDConfigs", ``):                                              "spec.linodeSDConfigs: Linode discovery is not supported",
		sd("hetznerSDConfigs", `role: hcloud`):                                 "spec.hetznerSDConfigs: Hetzner discovery is not supported",
		sd("nomadSDConfigs", `server: "http://nomad:4646"`):                    "spec.nomadSDConfigs: Nomad discovery is not supported",
		sd("dockerSwarmSDConfigs", `host: "unix:///s.sock", role: Tasks`):      "spec.dockerSwarmSDConfigs: Docker Swarm discovery is not supported",
		sd("puppetDBSDConfigs", `url: "http://puppet", query: "resources {}"`): "spec.puppetDBSDConfigs: PuppetDB discovery is not supported",
		sd("lightSailSDConfigs", ``):                                           "spec.lightSailSDConfigs: Lightsail discovery is not supported",
		sd("ovhcloudSDConfigs", `applicationKey: k, service: VPS, endpoint: e, applicationSecret: {name: s, key: k}, consumerKey: {name: s, key: k}`):    "spec.ovhcloudSDConfigs: OVHcloud discovery is not supported",
		sd("scalewaySDConfigs", `accessKey: k, projectID: p, role: Instance, secretKey: {name: s, key: k}`):                                              "spec.scalewaySDConfigs: Scaleway discovery is not supported",
		sd("ionosSDConfigs", `datacenterID: d, authorization: {credentials: {name: s, key: k}}`):                                                         "spec.ionosSDConfigs: IONOS discovery is not supported",
		`{staticConfigs: [{targets: ["a:1"]}], openstackSDConfigs: [{role: Instance, region: r1}]}`:                                                      "spec.openstackSDConfigs: OpenStack discovery is not supported",
		`{httpSDConfigs: [{url: "http://a/"}, {url: "http://b/", basicAuth: {username: {name: x, key: u}, password: {name: x, key: p}}}]}`:               `httpSDConfigs[1].basicAuth.username: secret default/x has no key "u"`,
		sd("consulSDConfigs", `server: c, tokenRef: {name: x, key: token}`):                                                                              `consulSDConfigs[0].tokenRef: secret default/x has no key "token"`,
		sd("ec2SDConfigs", `accessKey: {name: x, key: a}, secretKey: {name: x, key: s}`):                                                                 `ec2SDConfigs[0].accessKey: secret default/x has no key "a"`,
		sd("azureSDConfigs", `subscriptionID: s, clientSecret: {name: x, key: c}`):                                                                       `azureSDConfigs[0].clientSecret: secret default/x has no key "c"`,
		sd("kubernetesSDConfigs", `role: Pod, oauth2: {clientId: {secret: {name: x, key: id}}, clientSecret: {name: x, key: s}, tokenUrl: "http://t/"}`): `kubernetesSDConfigs[0].oauth2.clientId: secret default/x has no key "id"`,
	} {
		var sc monitoringv1alpha1.ScrapeConfig
		require.NoError(t, k8syaml.UnmarshalStrict([]byte(spec), &sc.Spec), spec)
		sc.Namespace, sc.Name = "default", "sc"
		_, err := (&Generator{Store: mapStore{}}).ScrapeConfig(&sc)
		if left := leftOut(sc.Spec); left != "" && !strings.Contains(want, "is not supported") {
			require.ErrorContains(t, err, "scrapeConfig/default/sc: "+left, spec) // a build with -tags remove_all_sd
			continue
		}
		require.EqualError(t, err, "scrapeConfig/default/sc: "+want, spec)
	}
}

// leftOut is the beginning of the error that refuses a ScrapeConfig whose discovery this build leaves out
// (built with -tags remove_all_sd), "" if the build has all it uses.
func leftOut(spec monitoringv1alpha1.ScrapeConfigSpec) string {
	for _, sd := range sdProviders {
		if sd.count(&spec) > 0 && sd.provider != "" && !slices.Contains(promdiscovery.RegisteredConfigNames(), sd.provider) {
			return "spec." + sd.field + ": " + sd.name + " discovery is not in this build"
		}
	}
	return ""
}

// A kubernetes discovery without apiServer reaches the Generator's API server; one with its own keeps it.
func TestScrapeConfigAPIServer(t *testing.T) {
	var own kubernetes.SDConfig
	require.NoError(t, yaml.Unmarshal([]byte("role: pod\napi_server: https://apiserver.example:6443\n"), &own))
	var sc monitoringv1alpha1.ScrapeConfig
	require.NoError(t, k8syaml.UnmarshalStrict([]byte(`{kubernetesSDConfigs: [{role: Node}, {role: Pod, apiServer: "https://other.example"}]}`), &sc.Spec))
	sc.Namespace, sc.Name = "default", "sc"
	job, err := (&Generator{APIServer: &own}).ScrapeConfig(&sc)
	require.NoError(t, err)
	require.Len(t, job.ServiceDiscoveryConfigs, 2)
	require.Equal(t, "https://apiserver.example:6443", job.ServiceDiscoveryConfigs[0].(*kubernetes.SDConfig).APIServer.String())
	require.Equal(t, "https://other.example", job.ServiceDiscoveryConfigs[1].(*kubernetes.SDConfig).APIServer.String())
	require.True(t, strings.HasPrefix(job.JobName, "scrapeConfig/"))
}

// extraScrapeMetrics (of the operator's v0.95 API, newer than its golden files) is the job's
// extra_scrape_metrics, for every kind.
func TestExtraScrapeMetrics(t *testing.T) {
	g := &Generator{}
	var sc monitoringv1alpha1.ScrapeConfig
	require.NoError(t, k8syaml.UnmarshalStrict([]byte(`{extraScrapeMetrics: true}`), &sc.Spec))
	scJob, err := g.ScrapeConfig(&sc)
	require.NoError(t, err)
	var sm monitoringv1.ServiceMonitor
	require.NoError(t, k8syaml.UnmarshalStrict([]byte(`{extraScrapeMetrics: true, endpoints: [{port: web}]}`), &sm.Spec))
	smJobs, err := g.ServiceMonitor(&sm)
	require.NoError(t, err)
	var pm monitoringv1.PodMonitor
	require.NoError(t, k8syaml.UnmarshalStrict([]byte(`{extraScrapeMetrics: true, podMetricsEndpoints: [{port: web}]}`), &pm.Spec))
	pmJobs, err := g.PodMonitor(&pm)
	require.NoError(t, err)
	for _, job := range []*promconfig.ScrapeConfig{scJob, smJobs[0], pmJobs[0]} {
		require.True(t, *job.ExtraScrapeMetrics, job.JobName)
	}
	scJob, err = g.ScrapeConfig(&monitoringv1alpha1.ScrapeConfig{})
	require.NoError(t, err)
	require.False(t, *scJob.ExtraScrapeMetrics, "the global default")
}
