//go:build !remove_all_sd

package discovery

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/discovering-prometheus/discovering-prometheus/internal/httpconfig"
)

// The credential and CA files of every discoverer section that has them are checked when the section is:
// a device or a named pipe, which Prometheus' clients would read whole or wait on, is a configuration
// error naming the key and the path. (A missing file is the client's to report, as before.)
func TestCredentialFilesAreChecked(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "token")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	k8s := func(k Kubernetes) *Kubernetes {
		k.Role = "pod"
		if k.KubeconfigFile == "" {
			k.APIServers = []string{"https://k8s:6443"}
		}
		return &k
	}
	for _, bad := range []struct{ path, kind string }{{"/dev/zero", "a character device"}, {fifo, "a named pipe"}} {
		tls := func(key string) httpconfig.TLS {
			switch key {
			case "ssl-ca":
				return httpconfig.TLS{CA: bad.path}
			case "ssl-cert":
				return httpconfig.TLS{Cert: bad.path, Key: "/missing-key.pem"}
			}
			return httpconfig.TLS{Cert: "/missing-cert.pem", Key: bad.path}
		}
		for _, tc := range []struct {
			name, key string
			section   Mapper
		}{
			{"consul", "ssl-ca", &Consul{TLS: tls("ssl-ca")}},
			{"ec2", "ssl-cert", &EC2{TLS: tls("ssl-cert")}},
			{"marathon", "ssl-key", &Marathon{Servers: []string{"http://m:8080"}, TLS: tls("ssl-key")}},
			{"marathon", "auth-token-file", &Marathon{Servers: []string{"http://m:8080"}, AuthTokenFile: bad.path}},
			{"triton", "ssl-ca", &Triton{Account: "a", DNSSuffix: "s", Endpoint: "e", TLS: tls("ssl-ca")}},
			{"kubernetes", "ssl-key", k8s(Kubernetes{TLS: tls("ssl-key")})},
			{"kubernetes", "ca-path", k8s(Kubernetes{CAPath: bad.path})},
			{"kubernetes", "bearer-token-file", k8s(Kubernetes{BearerTokenFile: bad.path})},
			{"kubernetes", "kubeconfig-file", k8s(Kubernetes{KubeconfigFile: bad.path})},
		} {
			t.Run(tc.name+" "+tc.key+" "+bad.kind, func(t *testing.T) {
				done := make(chan error, 1)
				go func() {
					_, err := tc.section.SDConfig()
					done <- err
				}()
				select {
				case err := <-done:
					require.EqualError(t, err, tc.key+": "+bad.path+": not a regular file ("+bad.kind+")")
				case <-time.After(10 * time.Second):
					t.Fatal("checking the section waited on its file")
				}
			})
		}
	}
}
