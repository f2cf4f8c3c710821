package operator

import (
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// An update reloads only when it can change the jobs: not for a status, another annotation or a
// resourceVersion (a ConfigMap of a leader election is updated every few seconds), each of which would
// cost a reload of the plan that changes nothing.
func TestChangesJobs(t *testing.T) {
	monitor := func(rv, port, db, other string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{
			"spec":   map[string]any{"endpoints": []any{map[string]any{"port": port}}},
			"status": map[string]any{"bindings": []any{rv}},
		}}
		u.SetResourceVersion(rv)
		u.SetAnnotations(map[string]string{AnnotationDB: db, "other": other})
		return u
	}
	secret := func(rv, v string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{ResourceVersion: rv, Annotations: map[string]string{"rv": rv}}, Data: map[string][]byte{"k": []byte(v)}}
	}
	configMap := func(rv, v string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{ResourceVersion: rv, Annotations: map[string]string{"control-plane.alpha.kubernetes.io/leader": rv}}, Data: map[string]string{"k": v}}
	}
	for _, tc := range []struct {
		name         string
		old, updated any
		want         bool
	}{
		{"monitor status, annotation, resourceVersion", monitor("1", "web", "a", "x"), monitor("2", "web", "a", "y"), false},
		{"monitor spec", monitor("1", "web", "a", "x"), monitor("2", "api", "a", "x"), true},
		{"monitor db annotation", monitor("1", "web", "a", "x"), monitor("2", "web", "b", "x"), true},
		{"monitor rp annotation", monitor("1", "web", "a", "x"), func() any {
			u := monitor("2", "web", "a", "x")
			u.SetAnnotations(map[string]string{AnnotationDB: "a", AnnotationRP: "r", "other": "x"})
			return u
		}(), true},
		{"secret metadata", secret("1", "v"), secret("2", "v"), false},
		{"secret data", secret("1", "v"), secret("2", "w"), true},
		{"configmap leader election", configMap("1", "v"), configMap("2", "v"), false},
		{"configmap data", configMap("1", "v"), configMap("2", "w"), true},
		{"unknown", "a", "a", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, changesJobs(tc.old, tc.updated))
		})
	}
}
