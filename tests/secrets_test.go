package tests

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Secret values of the configuration below, each distinct so that a leak says which one leaked.
const (
	secretPassword    = "pw-SECRET-7f3a"
	secretBearer      = "tok-SECRET-91c2"
	secretTokenFile   = "file-SECRET-5d0e"
	secretConsulToken = "consul-SECRET-2b8f"
	secretConsulPass  = "consulpw-SECRET-c41d"
	secretKubeToken   = "k8s-SECRET-e6a9"
)

// secretForms are the secrets as they could appear anywhere: as they are, and as they go on the wire.
func secretForms() map[string]string {
	forms := map[string]string{}
	for _, s := range []string{secretPassword, secretBearer, secretTokenFile, secretConsulToken, secretConsulPass, secretKubeToken} {
		forms[s] = s
	}
	forms["basic auth of "+secretPassword] = base64.StdEncoding.EncodeToString([]byte("scraper:" + secretPassword))
	forms["basic auth of "+secretConsulPass] = base64.StdEncoding.EncodeToString([]byte("consul:" + secretConsulPass))
	return forms
}

func requireNoSecret(t *testing.T, where, text string) {
	t.Helper()
	for name, form := range secretForms() {
		require.NotContains(t, text, form, "%s holds %s:\n%s", where, name, text)
	}
}

// secretsConfig has every kind of secret, on scrapers and discoverers that all fail: a target that refuses
// the credentials, one that redirects to another port that fails, one that is down; a Consul and a
// Kubernetes API that answer 500.
func secretsConfig(t *testing.T) string {
	refusing := serveHTTP(t, func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "bad credentials", http.StatusUnauthorized)
	})
	failing := serveHTTP(t, func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "boom", http.StatusInternalServerError) })
	redirecting := serveHTTP(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://"+failing+"/metrics", http.StatusFound)
	})
	down := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	api := serveHTTP(t, func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "unavailable", http.StatusInternalServerError)
	})
	tokenFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(secretTokenFile+"\n"), 0o600))
	static := func(name string, keys ...string) string {
		return ScraperTable(name, "metrics", "autogen", "static-discovery", "targets", append([]string{`scrape-interval = "1s"`}, keys...)...)
	}
	return "\n[[inputs.discovering_prometheus]]\n  discovery_wait = \"2s\"\n" +
		static("basic", `username = "scraper"`, fmt.Sprintf("password = %q", secretPassword)) +
		static("bearer", fmt.Sprintf("bearer-token = %q", secretBearer)) +
		static("token-file", fmt.Sprintf("bearer-token-file = %q", tokenFile)) +
		ScraperTable("consul", "metrics", "autogen", "consul", "consul") +
		ScraperTable("k8s", "metrics", "autogen", "kubernetes", "k8s") +
		fmt.Sprintf(`  [[inputs.discovering_prometheus.static-discovery]]
    id = "targets"
    targets = [%[1]q, %[2]q, %[3]q]
  [[inputs.discovering_prometheus.consul]]
    id = "consul"
    address = %[4]q
    token = %[5]q
    username = "consul"
    password = %[6]q
  [[inputs.discovering_prometheus.kubernetes]]
    id = "k8s"
    api-servers = ["http://%[4]s"]
    token = %[7]q
    role = "pod"
`, refusing, redirecting, down, api, secretConsulToken, secretConsulPass, secretKubeToken)
}

// Secrets never reach a log line, an error, the -targets output or the printed configuration.
func TestSecretsStaySecret(t *testing.T) {
	conf := secretsConfig(t)
	r := StartPlugin(t, conf)
	r.Gather()
	// Let the discoverers fail a few times, then gather again.
	Eventually(t, 15*time.Second, "the discoverers' failures logged", func() bool {
		return CountLog(r.Log, 'E', `consul "consul"`) > 0 && CountLog(r.Log, 'E', `kubernetes "k8s"`) > 0
	})
	time.Sleep(time.Second)
	r.Gather()

	var logs strings.Builder
	for _, m := range r.Log.Messages() {
		logs.WriteString(m.String() + "\n")
	}
	require.Contains(t, logs.String(), "401 Unauthorized", "the scrapes failed as planned:\n%s", logs.String())
	require.Contains(t, logs.String(), "500 Internal Server Error", "the redirect was followed:\n%s", logs.String())
	requireNoSecret(t, "the log", logs.String())

	var health strings.Builder
	for _, s := range r.Plugin.RunningScrapers() {
		for _, target := range s.Targets() {
			health.WriteString(target.Health().LastError + "\n")
		}
		// What a panic or a debug print of the configuration would show.
		fmt.Fprintf(&health, "%+v\n%#v\n", *s.Config(), *s.Config())
	}
	requireNoSecret(t, "the scrape errors and the printed configuration", health.String())

	targets, err := json.Marshal(r.Plugin.Targets())
	require.NoError(t, err)
	requireNoSecret(t, "the targets", string(targets))

	// Init's errors, when the configuration is wrong next to the secrets.
	p := LoadPlugin(t, strings.Replace(conf, `scrape-interval = "1s"`, `scrape-interval = "1s"
    scheme = "gopher"`, 1))
	p.Log = r.Log
	err = p.Init()
	require.ErrorContains(t, err, "gopher")
	requireNoSecret(t, "Init's error", err.Error())
}

// The runner binary's -targets (table and JSON) and -once output, stdout and stderr.
func TestSecretsStaySecretInTheRunner(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plugin.conf")
	require.NoError(t, os.WriteFile(path, []byte(secretsConfig(t)), 0o600))
	var wg sync.WaitGroup
	for _, args := range [][]string{{"-targets"}, {"-targets", "-json"}, {"-once"}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := exec.Command(RunnerBinary(t), append(args, "-config", path)...).CombinedOutput()
			require.NoError(t, err, "%s", out)
			requireNoSecret(t, strings.Join(args, " ")+" output", string(out))
		}()
	}
	wg.Wait()
}
