package kapacitor

import (
	"strings"
	"testing"

	"github.com/influxdata/toml"
	"github.com/influxdata/toml/ast"
	"github.com/stretchr/testify/require"
)

// -migrate-kapacitor quotes a key that holds a dot: written bare, TOML would read it as a table and a key
// inside it, and the scraper would send another parameter.
func TestMigrateQuotesADottedKey(t *testing.T) {
	var out strings.Builder
	_, err := Migrate(&out, writeFile(t, `
[[scraper]]
  enabled = true
  name = "node"
  db = "d"
  rp = "r"
  discoverer-service = "static-discovery"
  discoverer-id = "nodes"
  [scraper.params]
    "module.name" = ["http_2xx"]

[[static-discovery]]
  enabled = true
  id = "nodes"
  targets = ["localhost:9100"]
`))
	require.NoError(t, err)
	require.Contains(t, out.String(), `"module.name" = ["http_2xx"]`)
	root, err := toml.Parse([]byte(out.String()))
	require.NoError(t, err)
	plugin := root.Fields["inputs"].(*ast.Table).Fields["discovering_prometheus"].([]*ast.Table)[0]
	params := plugin.Fields["scraper"].([]*ast.Table)[0].Fields["params"].(*ast.Table)
	require.Len(t, params.Fields, 1)
	require.Equal(t, `["http_2xx"]`, params.Fields["module.name"].(*ast.KeyValue).Value.Source())
}
