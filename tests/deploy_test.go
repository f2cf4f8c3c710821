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
// initialises every Telegraf configuration the pods run, with Telegraf's own loader.
func TestKubernetesManifests(t *testing.T) {
	files, err := filepath.Glob("../deploy/kubernetes/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	var objects []runtime.Object
	for _, file := range files {
		objects = append(objects, decodeManifests(t, file)...)
	}
	configMaps := map[string]*corev1.ConfigMap{}
	services := map[string]*corev1.Service{}
	accounts := map[string]bool{}
	var pods []podOf
	var statefulSets []*appsv1.StatefulSet
	for _, o := range objects {
		switch o := o.(type) {
		case *corev1.ConfigMap:
			configMaps[o.Name] = o
		case *corev1.Service:
			services[o.Name] = o
		case *corev1.ServiceAccount:
			accounts[o.Name] = true
		case *appsv1.DaemonSet:
			pods = append(pods, podOf{"DaemonSet " + o.Name, &o.Spec.Template, o.Spec.Selector.MatchLabels})
		case *appsv1.StatefulSet:
			pods = append(pods, podOf{"StatefulSet " + o.Name, &o.Spec.Template, o.Spec.Selector.MatchLabels})
			statefulSets = append(statefulSets, o)
		}
	}
	for _, o := range statefulSets {
		headless := services[o.Spec.ServiceName]
		require.NotNil(t, headless, "%s: serviceName %q is not a Service of the manifests", o.Name, o.Spec.ServiceName)
		require.Equal(t, corev1.ClusterIPNone, headless.Spec.ClusterIP, "%s: its Service is headless", o.Name)
		require.True(t, labels.SelectorFromSet(headless.Spec.Selector).Matches(labels.Set(o.Spec.Template.Labels)),
			"%s: its Service selects its pods", o.Name)
	}
	require.Len(t, pods, 3, "node-local, node-local with execd, sharded")
	for _, p := range pods {
		t.Run(p.name, func(t *testing.T) {
			require.True(t, labels.SelectorFromSet(p.selector).Matches(labels.Set(p.template.Labels)), "the selector selects the pod template")
			require.True(t, accounts[p.template.Spec.ServiceAccountName], "service account %q", p.template.Spec.ServiceAccountName)
			for _, c := range p.template.Spec.Containers {
				files := containerFiles(t, c, p.template.Spec.Volumes, configMaps)
				args := slices.Concat(c.Command, c.Args)
				i := slices.Index(args, "--config")
				require.GreaterOrEqual(t, i, 0, "%s: --config", c.Name)
				loadManifestTelegraf(t, files, c.Env, args[i+1], false)
			}
		})
	}
}

type podOf struct {
	name     string
	template *corev1.PodTemplateSpec
	selector map[string]string
}

// decodeManifests decodes each document of a YAML file strictly.
func decodeManifests(t *testing.T, file string) []runtime.Object {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	strict := kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme.Scheme, scheme.Scheme,
		kjson.SerializerOptions{Yaml: true, Strict: true})
	reader := kyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []runtime.Object
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err, file)
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		obj, gvk, err := strict.Decode(doc, nil, nil)
		require.NoError(t, err, "%s: %s", file, doc)
		t.Logf("%s: %s", filepath.Base(file), gvk.Kind)
		out = append(out, obj)
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

// loadManifestTelegraf loads the Telegraf configuration file of a container, with the container's
// environment (a made-up value for each), and initialises every discovering_prometheus input in it,
// those of an inputs.execd that runs the runner included (runner: the runner's file, without outputs).
func loadManifestTelegraf(t *testing.T, files map[string]string, env []corev1.EnvVar, file string, runner bool) {
	t.Helper()
	data, ok := files[file]
	require.True(t, ok, "%s is not in a config map the container mounts", file)
	for _, ref := range envReference.FindAllStringSubmatch(data, -1) {
		require.True(t, slices.ContainsFunc(env, func(e corev1.EnvVar) bool { return e.Name == ref[1] }),
			"%s uses ${%s}, which the container does not set", file, ref[1])
	}
	for _, e := range env {
		t.Setenv(e.Name, "10.0.0.7")
	}
	c := config.NewConfig()
	require.NoError(t, c.LoadConfigData([]byte(data), file))
	inits := 0
	for _, input := range c.Inputs {
		switch in := input.Input.(type) {
		case *plugin.DiscoveringPrometheus:
			require.NoError(t, in.Init(), file)
			inits++
		case *execd.Execd:
			i := slices.Index(in.Command, "-config")
			require.Positive(t, i, "%s: the execd command names the runner's -config", file)
			require.True(t, strings.HasSuffix(in.Command[0], "/discovering-prometheus"), "%s runs %s", file, in.Command[0])
			loadManifestTelegraf(t, files, env, in.Command[i+1], true)
			inits++
		}
	}
	require.Positive(t, inits, "%s runs the plugin", file)
	if !runner {
		require.NotEmpty(t, c.Outputs, "%s writes somewhere", file)
	}
}
