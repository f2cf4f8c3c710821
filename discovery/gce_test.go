//go:build !remove_all_sd || enable_gce_sd

package discovery

import (
	"testing"
	"time"

	"github.com/influxdata/telegraf/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery/gce"
	"github.com/stretchr/testify/require"
)

func TestGCEDefaults(t *testing.T) {
	cfg, err := (&GCE{Common: Common{ID: "g"}, Project: "p", Zone: "europe-west1-b"}).SDConfig()
	require.NoError(t, err)
	require.Equal(t, &gce.SDConfig{
		Project:         "p",
		Zone:            "europe-west1-b",
		RefreshInterval: model.Duration(time.Minute),
		Port:            80,
		TagSeparator:    ",",
	}, cfg)
	require.Equal(t, "gce", cfg.Name())
}

func TestGCEMapping(t *testing.T) {
	g := &GCE{
		Common: Common{ID: "g"}, Project: "p", Zone: "z", Filter: `labels.team = "web"`,
		RefreshInterval: config.Duration(2 * time.Second), Port: 9100, TagSeparator: ";",
	}
	cfg, err := g.SDConfig()
	require.NoError(t, err)
	require.Equal(t, &gce.SDConfig{
		Project: "p", Zone: "z", Filter: `labels.team = "web"`,
		RefreshInterval: model.Duration(2 * time.Second), Port: 9100, TagSeparator: ";",
	}, cfg)
}

func TestGCEErrors(t *testing.T) {
	for want, g := range map[string]GCE{
		"project: required":                   {Zone: "z"},
		"zone: required":                      {Project: "p"},
		"port: 65536 is not a TCP port":       {Project: "p", Zone: "z", Port: 65536},
		"refresh-interval: -1m0s is negative": {Project: "p", Zone: "z", RefreshInterval: config.Duration(-time.Minute)},
	} {
		t.Run(want, func(t *testing.T) {
			_, err := g.SDConfig()
			require.ErrorContains(t, err, want)
		})
	}
}
