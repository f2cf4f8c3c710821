package scrape

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	promconfig "github.com/prometheus/common/config"

	"github.com/discovering-prometheus/discovering-prometheus/internal/conffile"
	"github.com/discovering-prometheus/discovering-prometheus/internal/httpconfig"
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
// alone can read them. Credential files are read as fileSecret reads them; keys names them in errors. opts
// are the client's options, for OAuth2's own client.
func takeCredentials(c *promconfig.HTTPClientConfig, keys keyNames, opts ...promconfig.HTTPClientOption) func(http.RoundTripper) http.RoundTripper {
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
			credential := secretReader(oauth2.ClientSecret, keys.file("oauth2.client_secret_file", oauth2.ClientSecretFile))
			if oauth2.GrantType == "urn:ietf:params:oauth:grant-type:jwt-bearer" {
				credential = secretReader(oauth2.ClientCertificateKey, keys.file("oauth2.client_certificate_key_file", oauth2.ClientCertificateKeyFile))
			}
			rt = promconfig.NewOAuth2RoundTripper(credential, oauth2, rt, opts...)
		}
		if authorization != nil {
			rt = promconfig.NewAuthorizationCredentialsRoundTripper(authorization.Type,
				secretReader(authorization.Credentials, keys.file("authorization.credentials_file", authorization.CredentialsFile)), rt)
		}
		if basic != nil {
			rt = promconfig.NewBasicAuthRoundTripper(
				secretReader(promconfig.Secret(basic.Username), keys.file("basic_auth.username_file", basic.UsernameFile)),
				secretReader(basic.Password, keys.file("basic_auth.password_file", basic.PasswordFile)), rt)
		}
		return rt
	}
}

func secretReader(inline promconfig.Secret, file fileSecret) promconfig.SecretReader {
	if file.path != "" {
		return file
	}
	return promconfig.NewInlineSecret(string(inline))
}

// fileSecret is a credential file, read on every request as Prometheus reads its *_file keys, so that a
// rotated secret is used at once, but by the rules of configuration files (internal/conffile): a regular
// file of at most conffile.MaxSize bytes, opened without blocking. Prometheus' os.ReadFile waits forever
// on a named pipe with no writer, past the scrape's timeout and the plugin's stop, and reads /dev/zero until
// memory runs out.
type fileSecret struct {
	key  string // the key that names the file, for errors
	path string
}

func (f fileSecret) Fetch(ctx context.Context) (string, error) {
	if err := ctx.Err(); err != nil { // the scrape is over: nothing to read for
		return "", fmt.Errorf("%s %s: %w", f.key, f.path, err)
	}
	data, err := conffile.Read(f.path, false)
	if err != nil {
		return "", fmt.Errorf("%s: %w", f.key, err) // conffile's errors name the path
	}
	return strings.TrimSpace(string(data)), nil
}

func (f fileSecret) Description() string { return "file " + f.path }

func (fileSecret) Immutable() bool { return false }

// keyNames maps the keys of Prometheus' client configuration (authorization.credentials_file, ...) to the
// names the user wrote: a job's are Prometheus' own, a [[scraper]]'s are Kapacitor's.
type keyNames map[string]string

// kapacitorKeys are the Kapacitor keys that set Prometheus' credential files.
var kapacitorKeys = keyNames{
	"authorization.credentials_file": "bearer-token-file",
	"tls_config.ca_file":             "ssl-ca",
	"tls_config.cert_file":           "ssl-cert",
	"tls_config.key_file":            "ssl-key",
}

// file is the fileSecret of path, set by Prometheus' key key.
func (k keyNames) file(key, path string) fileSecret {
	if name, ok := k[key]; ok {
		key = name
	}
	return fileSecret{key: key, path: path}
}

// checkFiles refuses, when a scraper is made, a credential, certificate or header file that exists but is
// not a regular file of at most conffile.MaxSize bytes, naming its key. A file not there yet is let be: it
// fails the scrapes until it appears (a token mounted later), as in Prometheus.
func checkFiles(c *promconfig.HTTPClientConfig, keys keyNames) error {
	var errs []error
	check := func(key, path string) {
		if err := httpconfig.CheckFile(keys.file(key, path).key, path); err != nil {
			errs = append(errs, err)
		}
	}
	checkTLS := func(prefix string, t *promconfig.TLSConfig) {
		check(prefix+"ca_file", t.CAFile)
		check(prefix+"cert_file", t.CertFile)
		check(prefix+"key_file", t.KeyFile)
	}
	checkTLS("tls_config.", &c.TLSConfig)
	if a := c.Authorization; a != nil {
		check("authorization.credentials_file", a.CredentialsFile)
	}
	if b := c.BasicAuth; b != nil {
		check("basic_auth.username_file", b.UsernameFile)
		check("basic_auth.password_file", b.PasswordFile)
	}
	if o := c.OAuth2; o != nil {
		check("oauth2.client_secret_file", o.ClientSecretFile)
		check("oauth2.client_certificate_key_file", o.ClientCertificateKeyFile)
		checkTLS("oauth2.tls_config.", &o.TLSConfig)
	}
	if c.HTTPHeaders != nil {
		for name, h := range c.HTTPHeaders.Headers {
			for _, f := range h.Files {
				check("http_headers."+name+".files", f)
			}
		}
	}
	return errors.Join(errs...)
}

// fileRefs has Prometheus' client read the TLS files of a scraper (CA, certificate, key), which it re-reads
// on every request, as fileSecret reads them: each *_file key becomes a *_ref key that names the file here,
// its SecretManager. Other references are not this manager's: the client had none to read them with.
type fileRefs map[string]fileSecret

// take moves the TLS files of c, and of its OAuth2 client, into r. c's OAuth2 section is copied first:
// it is shared with the job's configuration.
func (r fileRefs) take(c *promconfig.HTTPClientConfig, keys keyNames) {
	move := func(key string, file, ref *string) {
		if *file == "" {
			return
		}
		name := "\x00" + key // a NUL byte: no reference a configuration means to write
		r[name], *ref, *file = keys.file(key, *file), name, ""
	}
	takeTLS := func(prefix string, t *promconfig.TLSConfig) {
		move(prefix+"ca_file", &t.CAFile, &t.CARef)
		move(prefix+"cert_file", &t.CertFile, &t.CertRef)
		move(prefix+"key_file", &t.KeyFile, &t.KeyRef)
	}
	takeTLS("tls_config.", &c.TLSConfig)
	if c.OAuth2 != nil {
		oauth2 := *c.OAuth2
		c.OAuth2 = &oauth2
		takeTLS("oauth2.tls_config.", &oauth2.TLSConfig)
	}
}

func (r fileRefs) Fetch(ctx context.Context, ref string) (string, error) {
	f, ok := r[ref]
	if !ok {
		return "", fmt.Errorf("secret reference %q: no secret manager is configured", ref)
	}
	return f.Fetch(ctx)
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
