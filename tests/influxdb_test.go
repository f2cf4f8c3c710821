package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// InfluxDB is a real InfluxDB 1.x (Debian's influxdb package) on loopback, with its own data directory.
type InfluxDB struct {
	URL string
}

// StartInfluxDB starts influxd and waits until /ping answers; it is stopped when the test ends. Each of
// data is a line of its [data] section ("max-series-per-database = 25").
func StartInfluxDB(t testing.TB, data ...string) *InfluxDB {
	t.Helper()
	bin := needBinary(t, "influxd")
	dir := t.TempDir()
	rpcPort, httpPort := FreePort(t), FreePort(t)
	conf := fmt.Sprintf(`reporting-disabled = true
bind-address = "127.0.0.1:%d"
[meta]
  dir = "%[2]s/meta"
[data]
  dir = "%[2]s/data"
  wal-dir = "%[2]s/wal"
  query-log-enabled = false
%[4]s
[http]
  bind-address = "127.0.0.1:%[3]d"
  log-enabled = false
[monitor]
  store-enabled = false
`, rpcPort, dir, httpPort, strings.Join(data, "\n"))
	path := filepath.Join(dir, "influxdb.conf")
	require.NoError(t, os.WriteFile(path, []byte(conf), 0o644))
	cmd := exec.Command(bin, "-config", path)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	db := &InfluxDB{URL: fmt.Sprintf("http://127.0.0.1:%d", httpPort)}
	Eventually(t, 30*time.Second, "influxd answers /ping", func() bool {
		resp, err := http.Get(db.URL + "/ping")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusNoContent
	})
	return db
}

// Series is one series of a query result.
type Series struct {
	Name    string            `json:"name"`
	Tags    map[string]string `json:"tags"`
	Columns []string          `json:"columns"`
	Values  [][]any           `json:"values"`
}

// Query runs InfluxQL against a database through the HTTP API and returns the series of its first result.
func (db *InfluxDB) Query(t testing.TB, database, q string) []Series {
	t.Helper()
	resp, err := http.PostForm(db.URL+"/query", url.Values{"db": {database}, "q": {q}})
	require.NoError(t, err)
	defer resp.Body.Close()
	var body struct {
		Results []struct {
			Series []Series `json:"series"`
			Error  string   `json:"error"`
		} `json:"results"`
		Error string `json:"error"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	require.Empty(t, body.Error, q)
	require.NotEmpty(t, body.Results, q)
	require.Empty(t, body.Results[0].Error, q)
	return body.Results[0].Series
}

// Column returns the values of one column of a series.
func (s Series) Column(name string) []any {
	for i, c := range s.Columns {
		if c == name {
			out := make([]any, len(s.Values))
			for j, row := range s.Values {
				out[j] = row[i]
			}
			return out
		}
	}
	return nil
}
