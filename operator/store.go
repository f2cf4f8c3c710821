package operator

import (
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
)

// errNotListed is the error of a key of a kind this instance may not list in the namespace.
var errNotListed = errors.New("this instance may not list them in this namespace (its RBAC)")

// ListerStore is the Store of a running section: the Secrets and ConfigMaps that client-go informers
// keep (nil: those this instance may not list). Its errors name the object and the key.
type ListerStore struct {
	Secrets    corelisters.SecretLister
	ConfigMaps corelisters.ConfigMapLister
}

// SecretKey returns the value of a Secret's key.
func (s ListerStore) SecretKey(namespace string, sel corev1.SecretKeySelector) (string, error) {
	if s.Secrets == nil {
		return "", fmt.Errorf("secret %s/%s: %w", namespace, sel.Name, errNotListed)
	}
	secret, err := s.Secrets.Secrets(namespace).Get(sel.Name)
	if err != nil {
		return "", fmt.Errorf("secret %s/%s: %w", namespace, sel.Name, err)
	}
	v, ok := secret.Data[sel.Key]
	if !ok {
		return "", fmt.Errorf("secret %s/%s has no key %q", namespace, sel.Name, sel.Key)
	}
	return string(v), nil
}

// ConfigMapKey returns the value of a ConfigMap's key.
func (s ListerStore) ConfigMapKey(namespace string, sel corev1.ConfigMapKeySelector) (string, error) {
	if s.ConfigMaps == nil {
		return "", fmt.Errorf("configmap %s/%s: %w", namespace, sel.Name, errNotListed)
	}
	cm, err := s.ConfigMaps.ConfigMaps(namespace).Get(sel.Name)
	if err != nil {
		return "", fmt.Errorf("configmap %s/%s: %w", namespace, sel.Name, err)
	}
	v, ok := cm.Data[sel.Key]
	if !ok {
		return "", fmt.Errorf("configmap %s/%s has no key %q", namespace, sel.Name, sel.Key)
	}
	return v, nil
}
