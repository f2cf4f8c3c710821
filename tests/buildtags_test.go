package tests

import (
	"debug/buildinfo"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"runtime/debug"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/discovering-prometheus/discovering-prometheus/discovery"
)

// sdPackages are the packages each SD of the discoverers brings in, by the sd tag of discovery.Sections
// (Prometheus' name of the SD, as in its enable_<sd>_sd build tag): Prometheus' SD and its API client. (The
// core of the AWS, Azure and Google SDKs is in every build: Prometheus' remote-write configuration, which
// its scrape package loads, signs requests with them.) TestBuildTagsKnowEverySD checks it against Sections.
var sdPackages = map[string][]string{
	"kubernetes": {"github.com/prometheus/prometheus/discovery/kubernetes", "k8s.io/client-go/tools/cache"},
	"aws":        {"github.com/prometheus/prometheus/discovery/aws", "github.com/aws/aws-sdk-go-v2/service/ec2"},
	"azure": {"github.com/prometheus/prometheus/discovery/azure",
		"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"},
	"gce":       {"github.com/prometheus/prometheus/discovery/gce", "google.golang.org/api/compute/v1"},
	"consul":    {"github.com/prometheus/prometheus/discovery/consul", "github.com/hashicorp/consul/api"},
	"dns":       {"github.com/prometheus/prometheus/discovery/dns", "github.com/miekg/dns"},
	"marathon":  {"github.com/prometheus/prometheus/discovery/marathon"},
	"triton":    {"github.com/prometheus/prometheus/discovery/triton"},
	"zookeeper": {"github.com/prometheus/prometheus/discovery/zookeeper"},
}

// Every SD of discovery.Sections, and no other, has its packages in sdPackages, the first of them
// Prometheus' SD package of that name: a new discoverer's SD is checked in the builds below.
func TestBuildTagsKnowEverySD(t *testing.T) {
	var sds []string
	sections := reflect.TypeFor[discovery.Sections]()
	for i := range sections.NumField() {
		if sd := sections.Field(i).Tag.Get("sd"); sd != "" && !slices.Contains(sds, sd) {
			sds = append(sds, sd)
		}
	}
	var listed []string
	for sd, pkgs := range sdPackages {
		listed = append(listed, sd)
		require.Equal(t, "github.com/prometheus/prometheus/discovery/"+sd, pkgs[0], "the first package of %s", sd)
	}
	slices.Sort(sds)
	slices.Sort(listed)
	require.Equal(t, sds, listed, "the SDs of discovery.Sections, against sdPackages")
}

// linkedSDs lists the packages of sdPackages a binary links, as "sd: package", by its symbol table (go tool
// nm); sdList lists those of the given discoverers alike.
func linkedSDs(t *testing.T, bin string) []string {
	t.Helper()
	out, err := exec.Command("go", "tool", "nm", bin).Output()
	require.NoError(t, err)
	return sdList(func(pkg string) bool {
		return regexp.MustCompile(`(?m) [TtDdBbRr] ` + regexp.QuoteMeta(pkg) + `\.`).Match(out)
	})
}

func sdList(keep func(pkg string) bool) []string {
	var list []string
	for sd, pkgs := range sdPackages {
		for _, pkg := range pkgs {
			if keep(pkg) {
				list = append(list, sd+": "+pkg)
			}
		}
	}
	slices.Sort(list)
	return list
}

// stderrOf is what a command that failed wrote on stderr.
func stderrOf(err error) string {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return string(exit.Stderr)
	}
	return ""
}

// A build with -tags remove_all_sd,enable_kubernetes_sd links the kubernetes SD and no other, says how it
// was built, discovers pods through the Kubernetes API and scrapes them, scrapes static targets (in every
// build), and refuses an ec2 section at start, saying which tag would build it in.
func TestKubernetesOnlyBuild(t *testing.T) {
	full, kubeOnly := RunnerBinary(t), KubernetesOnlyRunner(t)
	require.Equal(t, sdList(func(string) bool { return true }), linkedSDs(t, full), "the full build")
	require.Equal(t, sdList(func(pkg string) bool { return slices.Contains(sdPackages["kubernetes"], pkg) }),
		linkedSDs(t, kubeOnly), "the kubernetes-only build")
	info, err := buildinfo.ReadFile(kubeOnly)
	require.NoError(t, err)
	require.Contains(t, info.Settings, debug.BuildSetting{Key: "-tags", Value: "remove_all_sd,enable_kubernetes_sd"})
	for _, bin := range []string{full, kubeOnly} {
		st, err := os.Stat(bin)
		require.NoError(t, err)
		t.Logf("%s: %.1f MB", bin, float64(st.Size())/1e6)
	}

	f := startKubernetesFake(t, kubernetesToken)
	pod, static := StartExporter(t, "pod"), StartExporter(t, "static")
	f.Apply(kubernetesPod("default", "web-1", pod, map[string]string{"app": "web"}))
	conf := kubernetesConfig(kubernetesServer(f)+"    role = \"pod\"\n") + fmt.Sprintf(`
  [[inputs.discovering_prometheus.scraper]]
    name = "static"
    db = "metrics"
    rp = "week"
    discoverer-service = "static-discovery"
    discoverer-id = "s"
  [[inputs.discovering_prometheus.static-discovery]]
    id = "s"
    targets = [%q]
`, static.Addr)
	out, err := exec.Command(kubeOnly, "-once", "-config", writeConfig(t, conf)).Output()
	require.NoError(t, err, "%s", stderrOf(err))
	ms := ParseLineProtocol(t, string(out))
	for name, e := range map[string]*Exporter{"pod": pod, "static": static} {
		require.Len(t, Find(ms, "exporter_info", map[string]string{"exporter": name, "instance": e.Addr,
			"db": "metrics", "rp": "week"}), 1, "%s's metrics", name)
	}

	_, err = exec.Command(kubeOnly, "-once", "-config", writeConfig(t, `
[[inputs.discovering_prometheus]]
  [[inputs.discovering_prometheus.ec2]]
    id = "web"
    region = "eu-west-1"
`)).Output()
	require.Error(t, err)
	require.Contains(t, stderrOf(err),
		`ec2 "web": this build leaves out the ec2 discoverer (built with -tags remove_all_sd; add enable_aws_sd)`)
}
