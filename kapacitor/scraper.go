package kapacitor

import (
	"errors"
	"fmt"
	"strings"

	"github.com/discovering-prometheus/discovering-prometheus/discovery"
	"github.com/discovering-prometheus/discovering-prometheus/scrape"
)

// Scraper is Kapacitor's [[scraper]] section, the plugin's own or a kapacitor.conf's: a scrape job (its
// name and how it scrapes, scrape.Config), where its metrics go (db, rp), where its targets come from
// (its discoverer) and whether it runs.
type Scraper struct {
	Enabled           *bool  `toml:"enabled"`
	Type              string `toml:"type"`
	DB                string `toml:"db"`
	RP                string `toml:"rp"`
	DiscovererID      string `toml:"discoverer-id"`
	DiscovererService string `toml:"discoverer-service"`
	scrape.Config
}

// A scraper section is switched on and off as a discoverer section is.
var _ discovery.Switchable = (*Scraper)(nil)

// IsEnabled tells whether the scraper runs: it does unless enabled = false.
func (s *Scraper) IsEnabled() bool { return s.Enabled == nil || *s.Enabled }

// Discoverer is the key of the discoverer the scraper takes its targets from.
func (s *Scraper) Discoverer() discovery.Key {
	return discovery.Key{Service: s.DiscovererService, ID: s.DiscovererID}
}

// Init applies the defaults and validates every key (SetToDefault, then Validate).
func (s *Scraper) Init() error {
	s.SetToDefault()
	return s.Validate()
}

// SetToDefault gives every unset key its default value.
func (s *Scraper) SetToDefault() {
	if s.Type == "" {
		s.Type = "prometheus"
	}
	s.Config.SetToDefault()
}

// Validate checks every key, after SetToDefault, and changes none. Its errors name the key, one per line,
// in order.
func (s *Scraper) Validate() error {
	errs := s.Config.Problems()
	fail := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	for key, value := range map[string]string{"db": s.DB, "rp": s.RP} {
		if strings.TrimSpace(value) == "" {
			fail(key, "required")
		}
	}
	if s.Type != "prometheus" {
		fail("type", "%q is not supported; the only type is \"prometheus\"", s.Type)
	}
	if (s.DiscovererID == "") != (s.DiscovererService == "") {
		fail("discoverer-id", "discoverer-id and discoverer-service must be given together")
	}
	if s.DiscovererService == "" {
		fail("discoverer-service", "required: the scraper has no targets without a discoverer")
	}
	scrape.SortErrors(errs)
	return errors.Join(errs...)
}
