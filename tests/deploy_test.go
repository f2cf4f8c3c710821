package tests

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/plugins/inputs/execd"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	kyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"

	_ "github.com/influxdata/telegraf/plugins/outputs/influxdb"

	plugin "github.com/discovering-prometheus/discovering-prometheus/plugins/inputs/discovering_prometheus"
)

// TestKubernetesManifests decodes every manifest of deploy/kubernetes strictly with the Kubernetes API types
// (an unknown field or kind fails), checks that what a pod refers to exists (its service account, config
// maps, the files its command reads, the environment variables its configuration uses), and loads and
// initialises every Telegraf configuration the pods run, with Telegraf's own loader. in-cluster = true
// needs the files of a pod's service account: here an API server is named instead, which no key reaches
// before the plugin starts (TestKubernetesManifestsOnAPIServer runs them on a real one).
func TestKubernetesManifests(t *testing.T) {
	m := readManifests(t)
	for _, o := range m.statefulSets {
		headless := m.services[o.Spec.ServiceName]
		require.NotNil(t, headless, "%s: serviceName %q is not a Service of the manifests", o.Name, o.Spec.ServiceName)
		require.Equal(t, corev1.ClusterIPNone, headless.Spec.ClusterIP, "%s: its Service is headless", o.Name)
		require.True(t, labels.SelectorFromSet(headless.Spec.Selector).Matches(labels.Set(o.Spec.Template.Labels)),
			"%s: its Service selects its pods", o.Name)
	}
	require.Len(t, m.pods, 3, "node-local, node-local with execd, sharded")
	for _, p := range m.pods {
		t.Run(p.name, func(t *testing.T) {
			require.True(t, labels.SelectorFromSet(p.selector).Matches(labels.Set(p.template.Labels)), "the selector selects the pod template")
			require.True(t, m.accounts[p.template.Spec.ServiceAccountName], "service account %q", p.template.Spec.ServiceAccountName)
			require.NotEmpty(t, m.plugins(t, p, nil, `api-servers = ["https://10.96.0.1:443"]`))
		})
	}
}

// manifests are the objects of deploy/kubernetes, decoded strictly, and the pods they run.
type manifests struct {
	configMaps   map[string]*corev1.ConfigMap
	services     map[string]*corev1.Service
	accounts     map[string]bool
	pods         []podOf
	statefulSets []*appsv1.StatefulSet
}

func readManifests(t *testing.T) *manifests {
	t.Helper()
	m := &manifests{configMaps: map[string]*corev1.ConfigMap{}, services: map[string]*corev1.Service{}, accounts: map[string]bool{}}
	for _, file := range manifestFiles(t) {
		for _, o := range decodeManifests(t, file) {
			switch o := o.(type) {
			case *corev1.ConfigMap:
				m.configMaps[o.Name] = o
			case *corev1.Service:
				m.services[o.Name] = o
			case *corev1.ServiceAccount:
				m.accounts[o.Name] = true
			case *appsv1.DaemonSet:
				m.pods = append(m.pods, podOf{"DaemonSet " + o.Name, &o.Spec.Template, o.Spec.Selector.MatchLabels})
			case *appsv1.StatefulSet:
				m.pods = append(m.pods, podOf{"StatefulSet " + o.Name, &o.Spec.Template, o.Spec.Selector.MatchLabels})
				m.statefulSets = append(m.statefulSets, o)
			}
		}
	}
	return m
}

// manifestFiles are the files of deploy/kubernetes.
func manifestFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../deploy/kubernetes/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	return files
}

// plugins loads the Telegraf configuration of each container of a pod and returns its plugins,
// initialised (those of an inputs.execd that runs the runner included). env holds values of the
// container's environment variables (any other is a made-up address); apiServer are the keys that reach
// the API server in place of in-cluster = true.
func (m *manifests) plugins(t *testing.T, p podOf, env map[string]string, apiServer string) []*plugin.DiscoveringPrometheus {
	t.Helper()
	var out []*plugin.DiscoveringPrometheus
	for _, c := range p.template.Spec.Containers {
		files := containerFiles(t, c, p.template.Spec.Volumes, m.configMaps)
		args := slices.Concat(c.Command, c.Args)
		i := slices.Index(args, "--config")
		require.GreaterOrEqual(t, i, 0, "%s: --config", c.Name)
		for _, e := range c.Env {
			v, ok := env[e.Name]
			if !ok {
				v = "10.0.0.7"
			}
			t.Setenv(e.Name, v)
		}
		out = append(out, loadManifestTelegraf(t, files, c.Env, apiServer, args[i+1], false)...)
	}
	return out
}

type podOf struct {
	name     string
	template *corev1.PodTemplateSpec
	selector map[string]string
}

// decodeManifests decodes each document of a YAML file strictly.
func decodeManifests(t *testing.T, file string) []runtime.Object {
	t.Helper()
	strict := kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme.Scheme, scheme.Scheme,
		kjson.SerializerOptions{Yaml: true, Strict: true})
	var out []runtime.Object
	for _, doc := range manifestDocuments(t, file) {
		obj, gvk, err := strict.Decode(doc, nil, nil)
		require.NoError(t, err, "%s: %s", file, doc)
		t.Logf("%s: %s", filepath.Base(file), gvk.Kind)
		out = append(out, obj)
	}
	return out
}

// manifestDocuments are the documents of a YAML file, the empty ones left out.
func manifestDocuments(t *testing.T, file string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	reader := kyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out [][]byte
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err, file)
		if len(bytes.TrimSpace(doc)) > 0 {
			out = append(out, doc)
		}
	}
}

// containerFiles are the files a container sees from config maps, by their path in the container.
func containerFiles(t *testing.T, c corev1.Container, volumes []corev1.Volume, configMaps map[string]*corev1.ConfigMap) map[string]string {
	t.Helper()
	files := map[string]string{}
	for _, m := range c.VolumeMounts {
		i := slices.IndexFunc(volumes, func(v corev1.Volume) bool { return v.Name == m.Name })
		require.GreaterOrEqual(t, i, 0, "%s: volume %q", c.Name, m.Name)
		if volumes[i].ConfigMap == nil {
			continue
		}
		cm := configMaps[volumes[i].ConfigMap.Name]
		require.NotNil(t, cm, "%s: config map %q", c.Name, volumes[i].ConfigMap.Name)
		for name, data := range cm.Data {
			files[path.Join(m.MountPath, name)] = data
		}
	}
	return files
}

var envReference = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// loadManifestTelegraf loads the Telegraf configuration file of a container, whose environment is set, with
// apiServer in place of in-cluster = true, and initialises every discovering_prometheus input in it, those
// of an inputs.execd that runs the runner included (runner: the runner's file, without outputs).
func loadManifestTelegraf(t *testing.T, files map[string]string, env []corev1.EnvVar, apiServer, file string, runner bool) []*plugin.DiscoveringPrometheus {
	t.Helper()
	data, ok := files[file]
	require.True(t, ok, "%s is not in a config map the container mounts", file)
	for _, ref := range envReference.FindAllStringSubmatch(data, -1) {
		require.True(t, slices.ContainsFunc(env, func(e corev1.EnvVar) bool { return e.Name == ref[1] }),
			"%s uses ${%s}, which the container does not set", file, ref[1])
	}
	data = strings.ReplaceAll(data, "in-cluster = true", apiServer)
	c := config.NewConfig()
	require.NoError(t, c.LoadConfigData([]byte(data), file))
	var plugins []*plugin.DiscoveringPrometheus
	for _, input := range c.Inputs {
		switch in := input.Input.(type) {
		case *plugin.DiscoveringPrometheus:
			require.NoError(t, in.Init(), file)
			plugins = append(plugins, in)
		case *execd.Execd:
			i := slices.Index(in.Command, "-config")
			require.Positive(t, i, "%s: the execd command names the runner's -config", file)
			require.True(t, strings.HasSuffix(in.Command[0], "/discovering-prometheus"), "%s runs %s", file, in.Command[0])
			plugins = append(plugins, loadManifestTelegraf(t, files, env, apiServer, in.Command[i+1], true)...)
		}
	}
	require.NotEmpty(t, plugins, "%s runs the plugin", file)
	if !runner {
		require.NotEmpty(t, c.Outputs, "%s writes somewhere", file)
	}
	return plugins
}
