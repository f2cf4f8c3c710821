package scrape

import (
	"net"
	"net/http"
	"net/url"
	"strings"

	promconfig "github.com/prometheus/common/config"
)

// Prometheus' client adds basic auth and the Authorization credentials below http.Client, so on every
// request, redirects included; it leaves them out only when a redirect reaches another host name. A
// redirect to another port of that host (another service) or from https to http would still carry them.
// So the scraper adds them itself, with Prometheus' own round trippers (a credentials file is read on each
// request, as Prometheus does), above a guard that takes them off any request that left the origin (scheme,
// host and port) the scrape started at.

// takeCredentials removes basic auth and the Authorization credentials from c and returns what wraps the
// client's round tripper to add them, to the scrape's origin only. Credentials held in a secret manager
// (the *_ref keys) are left to Prometheus' client, which alone can read them.
func takeCredentials(c *promconfig.HTTPClientConfig) func(http.RoundTripper) http.RoundTripper {
	basic, authorization := c.BasicAuth, c.Authorization
	if basic != nil && (basic.UsernameRef != "" || basic.PasswordRef != "") {
		basic = nil
	}
	if authorization != nil && authorization.CredentialsRef != "" {
		authorization = nil
	}
	if basic != nil {
		c.BasicAuth = nil
	}
	if authorization != nil {
		c.Authorization = nil
	}
	return func(rt http.RoundTripper) http.RoundTripper {
		rt = originOnly{rt}
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

// originOnly drops the Authorization header from a redirected request that left the origin of the first.
type originOnly struct{ next http.RoundTripper }

func (o originOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("Authorization") != "" && leftOrigin(req) {
		req = req.Clone(req.Context()) // a RoundTripper must not change the request it is given
		req.Header.Del("Authorization")
	}
	return o.next.RoundTrip(req)
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
