//go:build !remove_all_sd

package discovery

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"
)

// A build without tags has every discoverer, and each section names its SD's build tag, but static, file
// and http, which every build has (as Prometheus' plugins package always has file and http).
func TestEverySectionIsBuiltIn(t *testing.T) {
	typ := reflect.TypeFor[Sections]()
	for i := range typ.NumField() {
		field := typ.Field(i)
		p := reflect.New(field.Type.Elem().Elem()).Interface().(Provider)
		require.True(t, BuiltIn(p), "%s has no SDConfig: is its <name>_sd.go missing?", field.Name)
		alwaysIn := p.Service() == "static-discovery" || p.Service() == "file-discovery" || p.Service() == "http-discovery"
		require.Equal(t, alwaysIn, field.Tag.Get("sd") == "", "sd tag of %s", field.Name)
	}
}
