package operator

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"go.yaml.in/yaml/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// namespaced reads the Secrets and ConfigMaps of a monitor's namespace; its errors name the field, after
// prefix (where in the object the fields are, as "httpSDConfigs[0].").
type namespaced struct {
	store     Store
	namespace string
	prefix    string
}

// at is s for the fields under prefix.
func (s namespaced) at(prefix string) namespaced {
	s.prefix += prefix
	return s
}

// secret reads a Secret's key for the named field.
func (s namespaced) secret(field string, sel corev1.SecretKeySelector) (string, error) {
	if s.store == nil {
		return "", fmt.Errorf("%s%s: %w", s.prefix, field, errNoStore)
	}
	v, err := s.store.SecretKey(s.namespace, sel)
	if err != nil {
		return "", fmt.Errorf("%s%s: %w", s.prefix, field, err)
	}
	return v, nil
}

// secretOrConfigMap reads the key of whichever of the two is set ("", false with neither).
func (s namespaced) secretOrConfigMap(field string, ref monitoringv1.SecretOrConfigMap) (string, bool, error) {
	switch {
	case ref.Secret != nil:
		v, err := s.secret(field, *ref.Secret)
		return v, true, err
	case ref.ConfigMap != nil:
		if s.store == nil {
			return "", true, fmt.Errorf("%s%s: %w", s.prefix, field, errNoStore)
		}
		v, err := s.store.ConfigMapKey(s.namespace, *ref.ConfigMap)
		if err != nil {
			return "", true, fmt.Errorf("%s%s: %w", s.prefix, field, err)
		}
		return v, true, nil
	}
	return "", false, nil
}

// httpClient is what the operator's objects say of an HTTP client: that of a scrape (a monitor's endpoint,
// a ScrapeConfig) or of a service discovery.
type httpClient struct {
	monitoringv1.HTTPConfigWithoutTLS
	proxy           monitoringv1.ProxyConfig
	tls             *monitoringv1.TLSConfig
	bearerTokenFile string
}

// safeTLS is a SafeTLSConfig as a TLSConfig (nil: none).
func safeTLS(t *monitoringv1.SafeTLSConfig) *monitoringv1.TLSConfig {
	if t == nil {
		return nil
	}
	return &monitoringv1.TLSConfig{SafeTLSConfig: *t}
}

// http adds an HTTP client's settings: follow_redirects, enable_http2, proxy, OAuth2, TLS, bearer token,
// basic auth and authorization.
func (s namespaced) http(cfg yaml.MapSlice, e httpClient) (yaml.MapSlice, error) {
	cfg = set(cfg, "follow_redirects", e.FollowRedirects)
	cfg = set(cfg, "enable_http2", e.EnableHTTP2)
	cfg, err := s.proxy(cfg, "proxyConnectHeader", e.proxy)
	if err != nil {
		return nil, err
	}
	if o := e.OAuth2; o != nil {
		if cfg, err = s.oauth2(cfg, o); err != nil {
			return nil, err
		}
	}
	if e.tls != nil {
		tls, err := s.tls("tlsConfig", &e.tls.SafeTLSConfig)
		if err != nil {
			return nil, err
		}
		for _, file := range []struct{ key, path string }{{"ca_file", e.tls.CAFile}, {"cert_file", e.tls.CertFile}, {"key_file", e.tls.KeyFile}} {
			if file.path != "" {
				tls = append(tls, yaml.MapItem{Key: file.key, Value: file.path})
			}
		}
		cfg = append(cfg, yaml.MapItem{Key: "tls_config", Value: tls})
	}
	if e.bearerTokenFile != "" {
		cfg = append(cfg, yaml.MapItem{Key: "bearer_token_file", Value: e.bearerTokenFile})
	}
	if sel := e.BearerTokenSecret; sel != nil && sel.Name != "" { //nolint:staticcheck // deprecated, still honoured as by the operator
		token, err := s.secret("bearerTokenSecret", *sel)
		if err != nil {
			return nil, err
		}
		cfg = append(cfg, yaml.MapItem{Key: "bearer_token", Value: token})
	}
	if b := e.BasicAuth; b != nil {
		username, err := s.secret("basicAuth.username", b.Username)
		if err != nil {
			return nil, err
		}
		password, err := s.secret("basicAuth.password", b.Password)
		if err != nil {
			return nil, err
		}
		cfg = append(cfg, yaml.MapItem{Key: "basic_auth", Value: yaml.MapSlice{{Key: "username", Value: username}, {Key: "password", Value: password}}})
	}
	if a := e.Authorization; a != nil {
		auth := yaml.MapSlice{{Key: "type", Value: strings.TrimSpace(a.Type)}}
		if a.Type == "" {
			auth[0].Value = "Bearer"
		}
		if a.Credentials != nil {
			credentials, err := s.secret("authorization.credentials", *a.Credentials)
			if err != nil {
				return nil, err
			}
			auth = append(auth, yaml.MapItem{Key: "credentials", Value: credentials})
		}
		cfg = append(cfg, yaml.MapItem{Key: "authorization", Value: auth})
	}
	return cfg, nil
}

func (s namespaced) proxy(cfg yaml.MapSlice, field string, p monitoringv1.ProxyConfig) (yaml.MapSlice, error) {
	if p.ProxyURL != nil {
		cfg = append(cfg, yaml.MapItem{Key: "proxy_url", Value: *p.ProxyURL})
	}
	if p.NoProxy != nil {
		cfg = append(cfg, yaml.MapItem{Key: "no_proxy", Value: *p.NoProxy})
	}
	if p.ProxyFromEnvironment != nil {
		cfg = append(cfg, yaml.MapItem{Key: "proxy_from_environment", Value: *p.ProxyFromEnvironment})
	}
	if len(p.ProxyConnectHeader) == 0 {
		return cfg, nil
	}
	headers := yaml.MapSlice{}
	for _, name := range slices.Sorted(maps.Keys(p.ProxyConnectHeader)) {
		var values []string
		for _, sel := range p.ProxyConnectHeader[name] {
			v, err := s.secret(field+"."+name, sel)
			if err != nil {
				return nil, err
			}
			values = append(values, v)
		}
		headers = append(headers, yaml.MapItem{Key: name, Value: values})
	}
	return append(cfg, yaml.MapItem{Key: "proxy_connect_header", Value: headers}), nil
}

func (s namespaced) oauth2(cfg yaml.MapSlice, o *monitoringv1.OAuth2) (yaml.MapSlice, error) {
	clientID, _, err := s.secretOrConfigMap("oauth2.clientId", o.ClientID)
	if err != nil {
		return nil, err
	}
	clientSecret, err := s.secret("oauth2.clientSecret", o.ClientSecret)
	if err != nil {
		return nil, err
	}
	oauth := yaml.MapSlice{{Key: "client_id", Value: clientID}, {Key: "client_secret", Value: clientSecret}, {Key: "token_url", Value: o.TokenURL}}
	if len(o.Scopes) > 0 {
		oauth = append(oauth, yaml.MapItem{Key: "scopes", Value: o.Scopes})
	}
	if len(o.EndpointParams) > 0 {
		oauth = append(oauth, yaml.MapItem{Key: "endpoint_params", Value: o.EndpointParams})
	}
	if oauth, err = s.proxy(oauth, "oauth2.proxyConnectHeader", o.ProxyConfig); err != nil {
		return nil, err
	}
	if o.TLSConfig != nil {
		tls, err := s.tls("oauth2.tlsConfig", o.TLSConfig)
		if err != nil {
			return nil, err
		}
		oauth = append(oauth, yaml.MapItem{Key: "tls_config", Value: tls})
	}
	return append(cfg, yaml.MapItem{Key: "oauth2", Value: oauth}), nil
}

// tls is a SafeTLSConfig with its CA, certificate and key inline.
func (s namespaced) tls(field string, t *monitoringv1.SafeTLSConfig) (yaml.MapSlice, error) {
	tls := yaml.MapSlice{}
	if t.InsecureSkipVerify != nil {
		tls = append(tls, yaml.MapItem{Key: "insecure_skip_verify", Value: *t.InsecureSkipVerify})
	}
	for _, ref := range []struct {
		key, field string
		value      monitoringv1.SecretOrConfigMap
	}{{"ca", "ca", t.CA}, {"cert", "cert", t.Cert}} {
		v, set, err := s.secretOrConfigMap(field+"."+ref.field, ref.value)
		if err != nil {
			return nil, err
		}
		if set {
			tls = append(tls, yaml.MapItem{Key: ref.key, Value: v})
		}
	}
	if t.KeySecret != nil {
		key, err := s.secret(field+".keySecret", *t.KeySecret)
		if err != nil {
			return nil, err
		}
		tls = append(tls, yaml.MapItem{Key: "key", Value: key})
	}
	if name := ptr.Deref(t.ServerName, ""); name != "" {
		tls = append(tls, yaml.MapItem{Key: "server_name", Value: name})
	}
	if t.MinVersion != nil {
		tls = append(tls, yaml.MapItem{Key: "min_version", Value: *t.MinVersion})
	}
	if t.MaxVersion != nil {
		tls = append(tls, yaml.MapItem{Key: "max_version", Value: *t.MaxVersion})
	}
	return tls, nil
}

// set appends the key with the value v points to, if any.
func set[T any](cfg yaml.MapSlice, key string, v *T) yaml.MapSlice {
	if v == nil {
		return cfg
	}
	return append(cfg, yaml.MapItem{Key: key, Value: *v})
}
