package discovery

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	promdiscovery "github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// Each Sections field is named after its provider's service, no name twice, and every one of
// Kapacitor's discoverers has a provider.
func TestSectionsMatchServices(t *testing.T) {
	typ := reflect.TypeFor[Sections]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		p := reflect.New(f.Type.Elem().Elem()).Interface().(Provider)
		require.Equal(t, f.Tag.Get("toml"), p.Service(), f.Name)
	}
	require.Equal(t, slices.Compact(slices.Clone(Services)), Services, "a section name used twice")
	require.Len(t, KapacitorServices, 12)
	require.Subset(t, Services, KapacitorServices)
}

func TestValidate(t *testing.T) {
	off := false
	s := Sections{
		Static: []*Static{
			{Common: Common{ID: "a"}, Targets: []string{"h:1"}, Labels: map[string]string{"x": "y"}},
			{Common: Common{ID: "a"}, Targets: []string{"h:2"}},
			{Common: Common{ID: "off", Enabled: &off}},
			{Common: Common{ID: "bad"}, Targets: []string{"h:1"}, Labels: map[string]string{"": "y"}},
		},
		File: []*File{{Common: Common{ID: "f"}, Files: []string{"x.json"}}},
	}
	configs, err := Validate(s.Providers())
	require.Error(t, err)
	require.Equal(t, []string{
		`static-discovery "a": id: "a" is used twice`,
		`static-discovery "bad": labels: "" is not a valid label name`,
	}, strings.Split(err.Error(), "\n"))
	require.Len(t, configs, 2)
	require.Contains(t, configs, Key{"file-discovery", "f"})
}

func TestFileDefaultsAndPattern(t *testing.T) {
	cfg, err := (&File{Files: []string{"/a/*.JSON", "b.yml", "/c/d.yaml"}}).SDConfig()
	require.NoError(t, err)
	require.Equal(t, "5m", reflect.ValueOf(cfg).Elem().FieldByName("RefreshInterval").Interface().(model.Duration).String())
	for _, bad := range []string{"x.txt", "/a/*/b.json", "/a/b"} {
		t.Run(bad, func(t *testing.T) {
			_, err := (&File{Files: []string{bad}}).SDConfig()
			require.ErrorContains(t, err, "files[0]")
		})
	}
	_, err = (&File{}).SDConfig()
	require.ErrorContains(t, err, "files: at least one file is required")
}

func TestManager(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	file := filepath.Join(dir, "t.json")
	require.NoError(t, os.WriteFile(file, []byte(`[{"targets":["f:1"],"labels":{"team":"a"}}]`), 0o644))
	// File SD sends one update per file: Ready must wait for all of them.
	for i := range 20 {
		require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("more-%02d.json", i)), []byte(`[{"targets":["m:1"]}]`), 0o644))
	}
	configs, err := Validate((&Sections{
		Static: []*Static{{Common: Common{ID: "s"}, Targets: []string{"s:1", "s:2"}}},
		File:   []*File{{Common: Common{ID: "f"}, Files: []string{filepath.Join(dir, "*.json")}}},
	}).Providers())
	require.NoError(t, err)

	r := NewManager(configs, slog.New(slog.DiscardHandler), nil)
	r.Start()
	defer r.Stop()
	select {
	case <-r.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("not ready")
	}
	static := r.Groups(Key{"static-discovery", "s"})
	require.Len(t, static, 1)
	require.Len(t, static[0].Targets, 2)
	files := r.Groups(Key{"file-discovery", "f"})
	require.Len(t, files, 21)
	require.Equal(t, model.LabelValue("a"), files[20].Labels["team"], "t.json sorts after more-*.json")
	for i := range 20 {
		require.NoError(t, os.Remove(filepath.Join(dir, fmt.Sprintf("more-%02d.json", i))))
	}
	require.Eventually(t, func() bool { return len(r.Groups(Key{"file-discovery", "f"})) == 1 }, 10*time.Second, 20*time.Millisecond)

	v := r.Version()
	require.NoError(t, os.WriteFile(file, []byte(`[{"targets":["f:1","f:2"]}]`), 0o644))
	require.Eventually(t, func() bool {
		g := r.Groups(Key{"file-discovery", "f"})
		return r.Version() > v && len(g) == 1 && len(g[0].Targets) == 2
	}, 10*time.Second, 20*time.Millisecond)
	// The file emptied: its source is gone.
	require.NoError(t, os.WriteFile(file, []byte(`[]`), 0o644))
	require.Eventually(t, func() bool { return len(r.Groups(Key{"file-discovery", "f"})) == 0 }, 10*time.Second, 20*time.Millisecond)
	require.GreaterOrEqual(t, r.Stats(Key{"file-discovery", "f"}).Refreshes, uint64(3))
	r.Stop()
}

// A file-discovery with one unreadable file is failing until that file reads again: another file's update
// is no recovery, and the failure is logged once, however often the files are read.
func TestFileRecoversWhenTheFailingFileReads(t *testing.T) {
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good.json"), filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(good, []byte(`[{"targets":["g:1"]}]`), 0o644))
	require.NoError(t, os.WriteFile(bad, []byte(`not json`), 0o644))
	configs, err := Validate((&Sections{File: []*File{{Common: Common{ID: "f"}, Files: []string{filepath.Join(dir, "*.json")}}}}).Providers())
	require.NoError(t, err)
	var buf bytes.Buffer
	var mu sync.Mutex
	logs := func(msg string) int {
		mu.Lock()
		defer mu.Unlock()
		return strings.Count(buf.String(), msg)
	}
	r := NewManager(configs, slog.New(slog.NewTextHandler(&lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelInfo})), nil)
	r.Start()
	defer r.Stop()
	<-r.Ready()
	key := Key{"file-discovery", "f"}
	// The good file changes twice: two more updates, while bad.json is read and fails each time.
	for _, targets := range []string{`["g:1","g:2"]`, `["g:3"]`} {
		v := r.Version()
		replaceFile(t, good, `[{"targets":`+targets+`}]`)
		require.Eventually(t, func() bool { return r.Version() > v }, 10*time.Second, 20*time.Millisecond)
	}
	require.Equal(t, 0, logs("discoverer recovered"), buf.String())
	require.Equal(t, 1, logs("Error reading file"), buf.String())
	require.Contains(t, r.Stats(key).Failure, "Error reading file")
	require.Contains(t, r.Stats(key).Failure, "bad.json")

	replaceFile(t, bad, `[{"targets":["b:1"]}]`)
	require.Eventually(t, func() bool { return len(r.Groups(key)) == 2 }, 10*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool { return logs("discoverer recovered") == 1 }, 10*time.Second, 20*time.Millisecond, buf.String())
	require.Empty(t, r.Stats(key).Failure, "recovered")
	require.WithinDuration(t, time.Now(), r.Stats(key).LastUpdate, 10*time.Second)
}

// replaceFile replaces a file's content at once, as a rename does: a write in place is seen half done.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	require.NoError(t, os.WriteFile(tmp, []byte(content), 0o644))
	require.NoError(t, os.Rename(tmp, path))
}

type lockedWriter struct {
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

// A named pipe or a device among the files a file-discovery's globs match is one error naming it: the
// other files are read, the discoverer answers and stops. Prometheus' file SD would block opening the pipe.
func TestFileDiscoveryReadsOnlyRegularFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "a-fifo.json") // sorted first: read before the good file
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	zero := filepath.Join(dir, "b-zero.json")
	require.NoError(t, os.Symlink("/dev/zero", zero))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "good.json"), []byte(`[{"targets":["g:1"]}]`), 0o644))
	configs, err := Validate((&Sections{File: []*File{{Common: Common{ID: "f"}, Files: []string{filepath.Join(dir, "*.json")}}}}).Providers())
	require.NoError(t, err)
	var buf bytes.Buffer
	var mu sync.Mutex
	r := NewManager(configs, slog.New(slog.NewTextHandler(&lockedWriter{&mu, &buf}, nil)), nil)
	r.Start()
	select {
	case <-r.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("the file discoverer did not answer")
	}
	groups := r.Groups(Key{"file-discovery", "f"})
	require.Len(t, groups, 1)
	require.Equal(t, model.LabelValue("g:1"), groups[0].Targets[0][model.AddressLabel])
	r.Stop()
	mu.Lock()
	defer mu.Unlock()
	require.Contains(t, buf.String(), fifo+": not a regular file (a named pipe)")
	require.Contains(t, buf.String(), zero+": not a regular file (a character device)")
	require.NotContains(t, buf.String(), "did not stop")
}

// blockingSD is a discoverer whose Run ignores its context and blocks until released.
type blockingSD struct{ release chan struct{} }

func (blockingSD) Name() string { return "blocking" }
func (blockingSD) NewDiscovererMetrics(prometheus.Registerer, promdiscovery.RefreshMetricsInstantiator) promdiscovery.DiscovererMetrics {
	return noMetrics{}
}
func (c blockingSD) NewDiscoverer(promdiscovery.DiscovererOptions) (promdiscovery.Discoverer, error) {
	return c, nil
}
func (c blockingSD) Run(context.Context, chan<- []*targetgroup.Group) { <-c.release }

// A discoverer that does not return when told to stop cannot hold Stop: it is waited on for a while, named
// in a warning, and left.
func TestStopDoesNotWaitForABlockedDiscoverer(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	var buf bytes.Buffer
	var mu sync.Mutex
	key := Key{"blocking", "b"}
	r := NewManager(Configs{key: blockingSD{release}}, slog.New(slog.NewTextHandler(&lockedWriter{&mu, &buf}, nil)), nil)
	r.Start()
	stopped := make(chan struct{})
	go func() {
		r.Stop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("Stop waited on the blocked discoverer")
	}
	mu.Lock()
	defer mu.Unlock()
	require.Contains(t, buf.String(), `discoverers did not stop within 1s, left running: blocking \"b\"`)
	r.Stop() // again: nothing more
}
