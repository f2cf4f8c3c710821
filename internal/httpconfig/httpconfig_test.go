package httpconfig

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// A URL's password is masked wherever an error, a log or the /targets page shows the URL, whether it parses
// or not, with or without a scheme; what is not a password (a path or query with @, a user name alone in a
// valid URL) is left as it is. This is the one policy: the plugin's /targets page once had its own, which
// showed an unparsable URL as "(invalid URL)" and a scheme-less one, password and all, as it was.
func TestRedactURL(t *testing.T) {
	for raw, want := range map[string]string{
		"http://host:9100/metrics":                  "http://host:9100/metrics",
		"http://user:s3cret@host:9100/metrics":      "http://user:xxxxx@host:9100/metrics",
		"http://user@host/metrics":                  "http://user@host/metrics",
		"http://host/probe?target=mail@example.com": "http://host/probe?target=mail@example.com",
		"http://user:s3cr%zzet@proxy:3128":          "http://user:xxxxx@proxy:3128",
		"http://user:s3cr/et@proxy:3128":            "http://user:xxxxx@proxy:3128",
		"http://user:s3cret%40host:9100/metrics":    "http://user:xxxxx%40host:9100/metrics", // an __address__ with userinfo
		"user:s3cret@ec2.example:443":               "user:xxxxx@ec2.example:443",
		"https://t0ken @host":                       "https://xxxxx@host",
		"m:8080":                                    "m:8080",
	} {
		t.Run(raw, func(t *testing.T) {
			require.Equal(t, want, RedactURL(raw), raw)
		})
	}
}

func TestParseProxyErrorShowsNoPassword(t *testing.T) {
	_, err := ParseProxy("http://user:s3cr%zzet@proxy:3128")
	require.EqualError(t, err, `"http://user:xxxxx@proxy:3128" is not a valid URL: invalid URL escape "xxxxx"`)
	_, err = ParseProxy("http://user:s3cr/et@proxy:3128")
	require.EqualError(t, err, `"http://user:xxxxx@proxy:3128" is not a valid URL: invalid port "xxxxx" after host`)
	// Without userinfo, nothing is masked.
	_, err = ParseProxy("http://proxy:31a8")
	require.EqualError(t, err, `"http://proxy:31a8" is not a valid URL: invalid port ":31a8" after host`)
	// A scrape URL built from an __address__ with userinfo: the parser quotes the password with the host.
	require.EqualError(t, URLError("http://user:s3cret%40host:1/metrics", errors.New(`invalid port ":s3cret%40host:1" after host`)),
		`"http://user:xxxxx%40host:1/metrics" is not a valid URL: invalid port "xxxxx" after host`)
	_, err = ParseProxy("user:s3cret@proxy:3128")
	require.EqualError(t, err, `"user:xxxxx@proxy:3128" is not an absolute URL`)
}

// A file a client reads whole must be a regular file; one that is not there is left for the client to
// report when it reads it.
func TestCheckFile(t *testing.T) {
	require.NoError(t, CheckFile("ssl-ca", ""))
	require.NoError(t, CheckFile("ssl-ca", "/nonexistent/ca.pem"))
	require.EqualError(t, CheckFile("ssl-ca", "/dev/zero"), "ssl-ca: /dev/zero: not a regular file (a character device)")
	require.EqualError(t, (&TLS{Cert: "/nonexistent/c.pem", Key: "/dev/null"}).CheckFiles(), "ssl-key: /dev/null: not a regular file (a character device)")
}
