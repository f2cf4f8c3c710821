// Package httpconfig maps Kapacitor's HTTP client keys (ssl-*, username, password, bearer-token, proxy-url)
// onto Prometheus' HTTP client configuration. Scrapers and the HTTP-based discoverers share these keys, so
// they share this one mapping and Prometheus' client, which puts every option on the wire.
package httpconfig

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strconv"
	"strings"

	"github.com/influxdata/telegraf/config"
	promconfig "github.com/prometheus/common/config"

	"github.com/discovering-prometheus/discovering-prometheus/internal/conffile"
	"github.com/discovering-prometheus/discovering-prometheus/internal/safetext"
)

// TLS holds Kapacitor's TLS keys.
type TLS struct {
	CA                 string `toml:"ssl-ca"`
	Cert               string `toml:"ssl-cert"`
	Key                string `toml:"ssl-key"`
	ServerName         string `toml:"ssl-server-name"`
	InsecureSkipVerify bool   `toml:"insecure-skip-verify"`
}

// Prometheus returns the TLS keys as Prometheus' TLS configuration.
func (t *TLS) Prometheus() promconfig.TLSConfig {
	return promconfig.TLSConfig{
		CAFile:             t.CA,
		CertFile:           t.Cert,
		KeyFile:            t.Key,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify,
	}
}

// Validate reports a client certificate given without its key, or the other way round.
func (t *TLS) Validate() error {
	if (t.Cert == "") != (t.Key == "") {
		return errors.New("ssl-cert and ssl-key must be given together")
	}
	return nil
}

// CheckFiles tells whether each TLS file that is set is one a client may read whole (see CheckFile).
func (t *TLS) CheckFiles() error {
	for _, f := range [][2]string{{"ssl-ca", t.CA}, {"ssl-cert", t.Cert}, {"ssl-key", t.Key}} {
		if err := CheckFile(f[0], f[1]); err != nil {
			return err
		}
	}
	return nil
}

// CheckFile tells whether the file of key, when set and there, is a regular file of at most
// conffile.MaxSize bytes. Prometheus' clients read CA, certificate, key and token files whole, when they
// start and again as they connect: /dev/zero would fill memory and a named pipe block them, so either is a
// configuration error. A file that is not there is the client's to report when it reads it, as before: a
// secret may be mounted after the configuration is checked.
func CheckFile(key, path string) error {
	if path == "" {
		return nil
	}
	if err := conffile.Check(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}

// Auth holds Kapacitor's authentication keys. Basic auth and a bearer token exclude each other: Kapacitor
// always sent Basic and silently dropped the token; here a config with both is refused.
type Auth struct {
	Username    string        `toml:"username"`
	Password    config.Secret `toml:"password"`
	BearerToken config.Secret `toml:"bearer-token"`
}

// Validate reports basic auth combined with a bearer token.
func (a *Auth) Validate() error {
	if (a.Username != "" || !a.Password.Empty()) && !a.BearerToken.Empty() {
		return errors.New("username/password and bearer-token exclude each other")
	}
	return nil
}

// Apply resolves the secrets and sets them on c.
func (a *Auth) Apply(c *promconfig.HTTPClientConfig) error {
	if a.Username != "" || !a.Password.Empty() {
		password, err := Resolve(&a.Password)
		if err != nil {
			return fmt.Errorf("password: %w", err)
		}
		c.BasicAuth = &promconfig.BasicAuth{Username: a.Username, Password: password}
	}
	if !a.BearerToken.Empty() {
		token, err := Resolve(&a.BearerToken)
		if err != nil {
			return fmt.Errorf("bearer-token: %w", err)
		}
		c.Authorization = &promconfig.Authorization{Type: "Bearer", Credentials: token}
	}
	return nil
}

// Resolve reads a Telegraf secret (which may live in a secret store) as a Prometheus secret.
func Resolve(s *config.Secret) (promconfig.Secret, error) {
	if s.Empty() {
		return "", nil
	}
	buf, err := s.Get()
	if err != nil {
		return "", err
	}
	defer buf.Destroy()
	return promconfig.Secret(buf.String()), nil
}

// ParseProxy checks a proxy-url and returns it as Prometheus' proxy configuration.
func ParseProxy(raw string) (promconfig.ProxyConfig, error) {
	if raw == "" {
		return promconfig.ProxyConfig{}, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return promconfig.ProxyConfig{}, URLError(raw, err)
	}
	if u.Scheme == "" || u.Host == "" {
		return promconfig.ProxyConfig{}, fmt.Errorf("%q is not an absolute URL", RedactURL(raw))
	}
	return promconfig.ProxyConfig{ProxyURL: promconfig.URL{URL: u}}, nil
}

// RedactURL returns raw with the password of its userinfo masked, as url.URL's Redacted does, also when
// raw does not parse or has no scheme: a configuration error or a log line that shows a URL shows no
// password. There, everything from the user name's colon to the last @ (or %40) is masked, or the whole
// userinfo when it has no colon.
func RedactURL(raw string) string {
	masked, _ := redact(raw)
	return masked
}

// redact returns RedactURL(raw) and the userinfo it masked ("" when none).
func redact(raw string) (masked, userinfo string) {
	if u, err := url.Parse(raw); err == nil {
		switch {
		case u.User != nil:
			if _, ok := u.User.Password(); ok {
				return u.Redacted(), u.User.String()
			}
			return raw, ""
		case !strings.Contains(u.Opaque, "@"):
			return raw, ""
		}
		// "user:password@host" without a scheme: url.Parse took the user name for one.
	}
	start := 0
	if i := strings.Index(raw, "://"); i >= 0 {
		start = i + len("://")
	}
	at := max(strings.LastIndex(raw[start:], "@"), strings.LastIndex(raw[start:], "%40"))
	if at < 0 {
		return raw, ""
	}
	userinfo = raw[start : start+at]
	if colon := strings.IndexByte(userinfo, ':'); colon >= 0 {
		return raw[:start+colon+1] + "xxxxx" + raw[start+at:], userinfo
	}
	return raw[:start] + "xxxxx" + raw[start+at:], userinfo
}

// URLError is the error for raw, which url.Parse refused with err: raw with its password masked, and
// what url.Parse said, but for any part of the userinfo it quotes (an escape or a "port" in the password),
// and any quote that holds the password (the "port" of a scrape URL whose __address__ holds userinfo).
func URLError(raw string, err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	masked, userinfo := redact(raw)
	detail := err.Error()
	if userinfo != "" {
		detail = maskQuoted(detail, userinfo)
	}
	return fmt.Errorf("%q is not a valid URL: %s", masked, detail)
}

// maskQuoted masks each Go-quoted string of msg that quotes a part of the userinfo secret, or holds its
// password (what follows the user name's colon, or all of it without one: RedactURL masks as much).
func maskQuoted(msg, secret string) string {
	_, password, found := strings.Cut(secret, ":")
	if !found {
		password = secret
	}
	return safetext.ReplaceQuoted(msg, func(q string) (string, bool) {
		text, err := strconv.Unquote(q)
		return `"xxxxx"`, err == nil && text != "" && (strings.Contains(secret, text) || password != "" && strings.Contains(text, password))
	})
}
