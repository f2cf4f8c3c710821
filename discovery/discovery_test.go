package discovery

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// Each Sections field is named after its provider's service, and Kapacitor's services are exactly the
// fields: every one of its discoverers has a provider.
func TestSectionsMatchServices(t *testing.T) {
	typ := reflect.TypeOf(Sections{})
	var services []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		p := reflect.New(f.Type.Elem().Elem()).Interface().(Provider)
		require.Equal(t, f.Tag.Get("toml"), p.Service(), f.Name)
		services = append(services, p.Service())
	}
	require.ElementsMatch(t, Services, services)
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
		_, err := (&File{Files: []string{bad}}).SDConfig()
		require.ErrorContains(t, err, "files[0]")
	}
	_, err = (&File{}).SDConfig()
	require.ErrorContains(t, err, "files: at least one file is required")
}

func TestRunner(t *testing.T) {
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

	r := NewRunner(configs, slog.New(slog.DiscardHandler), nil)
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
	require.GreaterOrEqual(t, r.Stats(Key{"file-discovery", "f"}).Updates, uint64(3))
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
	r := NewRunner(configs, slog.New(slog.NewTextHandler(&lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelInfo})), nil)
	r.Start()
	defer r.Stop()
	<-r.Ready()
	key := Key{"file-discovery", "f"}
	// The good file changes twice: two more updates, while bad.json is read and fails each time.
	for _, targets := range []string{`["g:1","g:2"]`, `["g:3"]`} {
		v := r.Version()
		require.NoError(t, os.WriteFile(good, []byte(`[{"targets":`+targets+`}]`), 0o644))
		require.Eventually(t, func() bool { return r.Version() > v }, 10*time.Second, 20*time.Millisecond)
	}
	require.Equal(t, 0, logs("discoverer recovered"), buf.String())
	require.Equal(t, 1, logs("Error reading file"), buf.String())

	require.NoError(t, os.WriteFile(bad, []byte(`[{"targets":["b:1"]}]`), 0o644))
	require.Eventually(t, func() bool { return len(r.Groups(key)) == 2 }, 10*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool { return logs("discoverer recovered") == 1 }, 10*time.Second, 20*time.Millisecond, buf.String())
}

func TestDedupHandlerLogsOncePerChange(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	errs := 0
	h := newDedupHandler(slog.NewTextHandler(&lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelInfo}), func() { errs++ })
	log := slog.New(h).With("discoverer", "dns")
	for range 3 {
		log.Error("lookup failed", "err", "timeout")
	}
	log.Error("lookup failed", "err", "refused")
	require.True(t, h.reset())
	log.Error("lookup failed", "err", "refused")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 3, buf.String())
	require.Equal(t, 5, errs)
	require.True(t, slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, "discoverer=dns") }))
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
