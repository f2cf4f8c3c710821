package discovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	promdiscovery "github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/file"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"go.yaml.in/yaml/v2"

	"github.com/discovering-prometheus/discovering-prometheus/internal/conffile"
)

// regularFileSD is Prometheus' file SD configuration with a discoverer that reads only regular files of at
// most conffile.MaxSize bytes. Prometheus' own opens whatever its globs match: a named pipe with no writer
// blocks it for good, holding back every file after it and any shutdown that waits for it, and a device
// such as /dev/zero never ends. Here such a file is one read error, naming it, and the others are read.
// Everything else is Prometheus' file SD: the same groups, sources and __meta_filepath label, re-read when
// a watched directory changes and every refresh interval.
type regularFileSD struct {
	*file.SDConfig
}

// withRegularFiles gives a file SD configuration the discoverer of regularFileSD; any other is returned as
// it is.
func withRegularFiles(cfg promdiscovery.Config) promdiscovery.Config {
	if c, ok := cfg.(*file.SDConfig); ok {
		return regularFileSD{c}
	}
	return cfg
}

// NewDiscovererMetrics implements promdiscovery.Config: the discoverer keeps no metrics.
func (regularFileSD) NewDiscovererMetrics(prometheus.Registerer, promdiscovery.RefreshMetricsInstantiator) promdiscovery.DiscovererMetrics {
	return noMetrics{}
}

// NewDiscoverer implements promdiscovery.Config.
func (c regularFileSD) NewDiscoverer(opts promdiscovery.DiscovererOptions) (promdiscovery.Discoverer, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &fileDiscoverer{paths: c.Files, interval: time.Duration(c.RefreshInterval), logger: logger}, nil
}

type noMetrics struct{}

func (noMetrics) Register() error { return nil }
func (noMetrics) Unregister()     {}

type fileDiscoverer struct {
	paths    []string
	interval time.Duration
	logger   *slog.Logger
	// lastRefresh holds how many groups each file had at the last refresh.
	lastRefresh map[string]int
}

// Run implements promdiscovery.Discoverer, as Prometheus' file SD runs.
func (d *fileDiscoverer) Run(ctx context.Context, ch chan<- []*targetgroup.Group) {
	watcher, err := fsnotify.NewWatcher()
	if err != nil {
		d.logger.Error("Error adding file watcher", "err", err)
		return
	}
	defer closeWatcher(watcher)
	d.refresh(ctx, ch, watcher)
	ticker := time.NewTicker(d.interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case event := <-watcher.Events:
			// As Prometheus: fsnotify sends events without a name, and a chmod changes nothing to read.
			if event.Name == "" || event.Op^fsnotify.Chmod == 0 {
				continue
			}
			d.refresh(ctx, ch, watcher)
		case <-ticker.C:
			d.refresh(ctx, ch, watcher)
		case err := <-watcher.Errors:
			if err != nil {
				d.logger.Error("Error watching file", "err", err)
			}
		}
	}
}

// closeWatcher closes the watcher, draining its channels meanwhile: closing it otherwise deadlocks.
func closeWatcher(w *fsnotify.Watcher) {
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case <-w.Errors:
			case <-w.Events:
			case <-done:
				return
			}
		}
	}()
	_ = w.Close()
}

// refresh reads every file the globs match and sends the groups of each, then an empty group for each
// group of a file that is gone or has fewer; a file that cannot be read keeps its groups.
func (d *fileDiscoverer) refresh(ctx context.Context, ch chan<- []*targetgroup.Group, watcher *fsnotify.Watcher) {
	ref := map[string]int{}
	for _, p := range d.listFiles() {
		groups, err := readFileSD(p)
		if err != nil {
			d.logger.Error("Error reading file", "path", p, "err", err)
			ref[p] = d.lastRefresh[p]
			continue
		}
		select {
		case ch <- groups:
		case <-ctx.Done():
			return
		}
		ref[p] = len(groups)
	}
	for f, n := range d.lastRefresh {
		m, ok := ref[f]
		if ok && n <= m {
			continue
		}
		for i := m; i < n; i++ {
			select {
			case ch <- []*targetgroup.Group{{Source: fileSource(f, i)}}:
			case <-ctx.Done():
				return
			}
		}
	}
	d.lastRefresh = ref
	for _, p := range d.paths {
		dir, _ := filepath.Split(p)
		if dir == "" {
			dir = "./"
		}
		if err := watcher.Add(dir); err != nil {
			d.logger.Error("Error adding file watch", "path", dir, "err", err)
		}
	}
}

func (d *fileDiscoverer) listFiles() []string {
	var paths []string
	for _, p := range d.paths {
		files, err := filepath.Glob(p)
		if err != nil {
			d.logger.Error("Error expanding glob", "glob", p, "err", err)
			continue
		}
		paths = append(paths, files...)
	}
	return paths
}

// readFileSD reads the JSON or YAML list of target groups of a file, as Prometheus does, if it is a regular
// file of at most conffile.MaxSize bytes.
func readFileSD(filename string) ([]*targetgroup.Group, error) {
	content, err := conffile.Read(filename, false)
	if err != nil {
		return nil, err
	}
	var groups []*targetgroup.Group
	switch ext := filepath.Ext(filename); strings.ToLower(ext) {
	case ".json":
		err = json.Unmarshal(content, &groups)
	case ".yml", ".yaml":
		err = yaml.UnmarshalStrict(content, &groups)
	default:
		err = fmt.Errorf("unhandled file extension %q", ext)
	}
	if err != nil {
		return nil, err
	}
	for i, g := range groups {
		if g == nil {
			return nil, errors.New("nil target group item found")
		}
		g.Source = fileSource(filename, i)
		if g.Labels == nil {
			g.Labels = model.LabelSet{}
		}
		g.Labels[fileSDFilepathLabel] = model.LabelValue(filename)
	}
	return groups, nil
}

// fileSDFilepathLabel is Prometheus' file SD label naming the file a target came from.
const fileSDFilepathLabel = model.MetaLabelPrefix + "filepath"

// fileSource is Prometheus' source of the i-th group of a file.
func fileSource(filename string, i int) string { return fmt.Sprintf("%s:%d", filename, i) }
