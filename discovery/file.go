package discovery

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/influxdata/telegraf/config"
	promdiscovery "github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/file"
)

// File is a [[file-discovery]] section: targets read from JSON or YAML files in Prometheus' file_sd format,
// re-read when they change and every refresh-interval.
type File struct {
	Common
	Files           []string        `toml:"files"`
	RefreshInterval config.Duration `toml:"refresh-interval"`
}

// filePattern is Kapacitor's (and Prometheus') rule: a glob only in the last path element, JSON or YAML.
var filePattern = regexp.MustCompile(`^[^*]*(\*[^/]*)?\.(?i:json|yml|yaml)$`)

// Service implements Provider.
func (*File) Service() string { return "file-discovery" }

// SDConfig implements Mapper.
func (f *File) SDConfig() (promdiscovery.Config, error) {
	if len(f.Files) == 0 {
		return nil, errors.New("files: at least one file is required")
	}
	for i, name := range f.Files {
		if !filePattern.MatchString(name) {
			return nil, fmt.Errorf("files[%d]: %q must end in .json, .yml or .yaml and may hold a * only in its last element", i, name)
		}
	}
	refresh, err := refreshInterval(f.RefreshInterval, 5*time.Minute)
	if err != nil {
		return nil, err
	}
	return &file.SDConfig{Files: f.Files, RefreshInterval: refresh}, nil
}
