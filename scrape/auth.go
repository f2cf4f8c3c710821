package scrape

import (
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	promconfig "github.com/prometheus/common/config"
)

// Prometheus' client adds basic auth, the Authorization credentials, an OAuth2 access token and the
// http_headers below http.Client, so on every request, redirects included; it leaves out the first three
// (and the headers it deems sensitive) only when a redirect reaches another host name. A redirect to
// another port of that host (another service) or from https to http would still carry them, and a secret
// http_headers header of another name goes anywhere. So the scraper adds them itself, with Prometheus' own
// round trippers (a credentials file is read on each request, as Prometheus does), above a guard that
// takes them off any request that left the origin (scheme, host and port) the scrape started at.

// takeCredentials removes basic auth, the Authorization credentials, OAuth2 and the http_headers that hold
// secrets or files from c and returns what wraps the client's round tripper to add them, to the scrape's
// origin only. Credentials held in a secret manager (the *_ref keys) are left to Prometheus' client, which
// alone can read them. opts are the client's options, for OAuth2's own client.
func takeCredentials(c *promconfig.HTTPClientConfig, opts ...promconfig.HTTPClientOption) func(http.RoundTripper) http.RoundTripper {
	basic, authorization, oauth2 := c.BasicAuth, c.Authorization, c.OAuth2
	if basic != nil && (basic.UsernameRef != "" || basic.PasswordRef != "") {
		basic = nil
	}
	if authorization != nil && authorization.CredentialsRef != "" {
		authorization = nil
	}
	if oauth2 != nil && (oauth2.ClientSecretRef != "" || oauth2.ClientCertificateKeyRef != "") {
		oauth2 = nil
	}
	if basic != nil {
		c.BasicAuth = nil
	}
	if authorization != nil {
		c.Authorization = nil
	}
	if oauth2 != nil {
		c.OAuth2 = nil
	}
	// Headers with secrets or files are credentials; those with values alone are not, and stay Prometheus'.
	guarded := []string{"Authorization"}
	var secret *promconfig.Headers
	if c.HTTPHeaders != nil {
		plain := &promconfig.Headers{Headers: map[string]promconfig.Header{}}
		secret = &promconfig.Headers{Headers: map[string]promconfig.Header{}}
		for name, h := range c.HTTPHeaders.Headers {
			if len(h.Secrets) > 0 || len(h.Files) > 0 {
				secret.Headers[name] = h
				guarded = append(guarded, http.CanonicalHeaderKey(name))
			} else {
				plain.Headers[name] = h
			}
		}
		c.HTTPHeaders = plain // a copy: the configuration's own is left as it was
	}
	return func(rt http.RoundTripper) http.RoundTripper {
		rt = originOnly{next: rt, headers: slices.Compact(slices.Sorted(slices.Values(guarded)))}
		if secret != nil {
			rt = promconfig.NewHeadersRoundTripper(secret, rt)
		}
		if oauth2 != nil {
			credential := secretReader(oauth2.ClientSecret, oauth2.ClientSecretFile)
			if oauth2.GrantType == "urn:ietf:params:oauth:grant-type:jwt-bearer" {
				credential = secretReader(oauth2.ClientCertificateKey, oauth2.ClientCertificateKeyFile)
			}
			rt = promconfig.NewOAuth2RoundTripper(credential, oauth2, rt, opts...)
		}
		if authorization != nil {
			rt = promconfig.NewAuthorizationCredentialsRoundTripper(authorization.Type, secretReader(authorization.Credentials, authorization.CredentialsFile), rt)
		}
		if basic != nil {
			rt = promconfig.NewBasicAuthRoundTripper(
				secretReader(promconfig.Secret(basic.Username), basic.UsernameFile), secretReader(basic.Password, basic.PasswordFile), rt)
		}
		return rt
	}
}

func secretReader(inline promconfig.Secret, file string) promconfig.SecretReader {
	if file != "" {
		return promconfig.NewFileSecret(file)
	}
	return promconfig.NewInlineSecret(string(inline))
}

// originOnly drops the credential headers from a redirected request that left the origin of the first.
type originOnly struct {
	next    http.RoundTripper
	headers []string // canonical names
}

func (o originOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	if o.carries(req) && leftOrigin(req) {
		req = req.Clone(req.Context()) // a RoundTripper must not change the request it is given
		for _, h := range o.headers {
			req.Header.Del(h)
		}
	}
	return o.next.RoundTrip(req)
}

// carries tells whether req has any of the credential headers.
func (o originOnly) carries(req *http.Request) bool {
	for _, h := range o.headers {
		if len(req.Header[h]) > 0 {
			return true
		}
	}
	return false
}

func (o originOnly) CloseIdleConnections() {
	if c, ok := o.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// leftOrigin tells whether req is a redirect away from the origin of the request that started the chain.
func leftOrigin(req *http.Request) bool {
	first := req
	for first.Response != nil && first.Response.Request != nil {
		first = first.Response.Request
	}
	return first != req && origin(first.URL) != origin(req.URL)
}

// origin is a URL's scheme, host and port, the port made explicit.
func origin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[scheme]
	}
	return scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}
