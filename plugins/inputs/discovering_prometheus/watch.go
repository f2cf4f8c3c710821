package discovering_prometheus

import (
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/discovering-prometheus/discovering-prometheus/promconf"
)

// watchDebounce is how long the watched files must be left alone before a change reloads them: a file
// written in several steps, or several files changed together, are read once, when done.
var watchDebounce = time.Second

// configWatch reloads the plugin when one of its configuration files changes (watch_config): the
// runner's -config, kapacitor_config, prometheus_config and the files of its scrape_config_files. It
// watches their directories, so that a file replaced by a rename (as editors and Kubernetes' ConfigMaps
// do) is seen too.
type configWatch struct {
	p       *DiscoveringPrometheus
	watcher *fsnotify.Watcher
	dirs    map[string]bool
	files   []string // paths and glob patterns, absolute
	done    sync.WaitGroup
}

// startWatch starts the watch when watch_config is set.
func (p *DiscoveringPrometheus) startWatch() error {
	if !p.WatchConfig {
		return nil
	}
	watcher, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	w := &configWatch{p: p, watcher: watcher, dirs: map[string]bool{}}
	w.update()
	p.watch.Store(w)
	w.done.Add(1)
	go w.run()
	return nil
}

// stopWatch ends the watch, and waits for a reload under way.
func (p *DiscoveringPrometheus) stopWatch() {
	if w := p.watch.Swap(nil); w != nil {
		_ = w.watcher.Close()
		w.done.Wait()
	}
}

// watchedFiles are the files (and patterns) of the plugin's configuration: those the table last read
// names (the runner's -config may change them).
func (p *DiscoveringPrometheus) watchedFiles() []string {
	var files []string
	p.reload.mu.Lock()
	kapacitorConfig, prometheusConfig := p.KapacitorConfig, p.PrometheusConfig
	if p.reload.path != "" {
		files = append(files, p.reload.path)
		kapacitorConfig, prometheusConfig = p.reload.kapacitorConfig, p.reload.prometheusConfig
	}
	p.reload.mu.Unlock()
	for _, f := range []string{kapacitorConfig, prometheusConfig} {
		if f != "" {
			files = append(files, f)
		}
	}
	if prometheusConfig != "" {
		// A file that cannot be read now has no patterns; the reload that reads it says why.
		patterns, _ := promconf.ScrapeConfigFiles(prometheusConfig)
		files = append(files, patterns...)
	}
	for i, f := range files {
		if abs, err := filepath.Abs(f); err == nil {
			files[i] = abs
		}
	}
	return files
}

// update watches the directories of the current files, which a reload may have changed.
func (w *configWatch) update() {
	w.files = w.p.watchedFiles()
	for _, f := range w.files {
		dir := filepath.Dir(f)
		if w.dirs[dir] {
			continue
		}
		if err := w.watcher.Add(dir); err != nil {
			w.p.Log.Warnf("watch_config: %s: %v", dir, err)
			continue
		}
		w.dirs[dir] = true
	}
}

// matches tells whether a changed path is one of the files.
func (w *configWatch) matches(path string) bool {
	return slices.ContainsFunc(w.files, func(f string) bool {
		ok, err := filepath.Match(f, path)
		return f == path || (err == nil && ok)
	})
}

func (w *configWatch) run() {
	defer w.done.Done()
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	defer debounce.Stop()
	for {
		select {
		case event, ok := <-w.watcher.Events:
			if !ok {
				return
			}
			if event.Op != fsnotify.Chmod && w.matches(event.Name) {
				debounce.Reset(watchDebounce)
			}
		case err, ok := <-w.watcher.Errors:
			if !ok {
				return
			}
			w.p.Log.Warnf("watch_config: %v", err)
		case <-debounce.C:
			_ = w.p.Reload() // it logs what changed, or its error
			w.update()
		}
	}
}
