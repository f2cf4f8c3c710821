package tests

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// -targets prints what discovery found and one scrape gave, target by target, and no secret.
func TestRunnerTargetsTable(t *testing.T) {
	up := startEcho(t, "user", "hunter2-secret")
	down := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	conf := writeConfig(t, fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  [[inputs.discovering_prometheus.scraper]]
    name = "web"
    db = "d"
    rp = "r"
    discoverer-service = "static-discovery"
    discoverer-id = "s"
    username = "user"
    password = "hunter2-secret"
    [[inputs.discovering_prometheus.scraper.relabel-configs]]
      source-labels = ["__address__"]
      regex = "127.0.0.1:1"
      action = "drop"
  [[inputs.discovering_prometheus.static-discovery]]
    id = "s"
    targets = [%q, %q, "127.0.0.1:1"]
`, up, down))
	cmd := exec.Command(RunnerBinary(t), "-targets", "-config", conf)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), stderr.String())
	out := stdout.String()
	for _, want := range []string{
		`scraper "web" (db "d", rp "r"): 2 active, 1 dropped`,
		"UP      http://" + up + "/metrics",
		"DOWN    http://" + down + "/metrics",
		"connection refused",
		`labels:      {instance="` + up + `", job="web"}`,
		`discovered:  {__address__="` + up + `", __always_scrape_classic_histograms__="false"`,
		`DROPPED {__address__="127.0.0.1:1"`,
		`by rule 0:   {"source_labels":["__address__"],"separator":";","regex":"127.0.0.1:1","replacement":"$1","action":"drop"}`,
	} {
		require.Contains(t, out, want)
	}
	require.NotContains(t, out+stderr.String(), "hunter2")
	require.Equal(t, 2, strings.Count(out, "last scrape:"), "both active targets were scraped:\n%s", out)
}
