package tests

// Prometheus' service discovery as the plugin makes it from a discoverer section, for the tests that look at
// the target groups and their __meta_* labels (what relabeling sees) before any scraping.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	promdiscovery "github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/stretchr/testify/require"

	"github.com/discovering-prometheus/discovering-prometheus/discovery"
)

func init() {
	childModes["sd"] = sdChild
}

// sdConfigs loads a plugin configuration and returns the Prometheus SD configuration of each enabled
// discoverer section, made by the section's SDConfig() as the plugin makes it.
func sdConfigs(toml []byte) (discovery.Configs, error) {
	_, p, err := loadConfig(toml)
	if err != nil {
		return nil, err
	}
	return discovery.Validate(p.Providers())
}

// SDConfig returns the Prometheus SD configuration of the one discoverer section of a plugin configuration.
func SDConfig(t testing.TB, toml string) promdiscovery.Config {
	t.Helper()
	configs, err := sdConfigs([]byte(toml))
	require.NoError(t, err)
	require.Len(t, configs, 1, "discoverer sections")
	for _, cfg := range configs {
		return cfg
	}
	return nil
}

// FirstTargets runs Prometheus' discoverer of an SD configuration until its first update and returns every
// target with its group's labels merged in, ordered by address: the labels relabeling sees.
func FirstTargets(cfg promdiscovery.Config, timeout time.Duration) ([]model.LabelSet, error) {
	registry := prometheus.NewRegistry()
	d, err := cfg.NewDiscoverer(promdiscovery.DiscovererOptions{
		Logger:  slog.New(slog.NewTextHandler(os.Stderr, nil)),
		Metrics: cfg.NewDiscovererMetrics(registry, promdiscovery.NewRefreshMetrics(registry)),
		SetName: cfg.Name(),
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	updates := make(chan []*targetgroup.Group)
	go d.Run(ctx, updates)
	select {
	case <-ctx.Done():
		return nil, errors.New("no update from the discoverer before the timeout")
	case groups := <-updates:
		var targets []model.LabelSet
		for _, g := range groups {
			for _, target := range g.Targets {
				targets = append(targets, g.Labels.Merge(target))
			}
		}
		sort.Slice(targets, func(i, j int) bool { return targets[i][model.AddressLabel] < targets[j][model.AddressLabel] })
		return targets, nil
	}
}

// FirstTargetsIn runs FirstTargets inside the namespace, in a child process, for every discoverer section of
// a plugin configuration, with env added to the child's environment. It returns the targets of each section
// that found any, by id.
func FirstTargetsIn(t testing.TB, ns *NetNS, toml string, env ...string) map[string][]model.LabelSet {
	t.Helper()
	conf := filepath.Join(t.TempDir(), "sd.conf")
	require.NoError(t, os.WriteFile(conf, []byte(toml), 0o644))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns.Name, os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), "DP_TEST_CHILD=sd", "DP_TEST_SD_CONF="+conf), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "sd child: %s", stderr.String())
	var targets map[string][]model.LabelSet
	require.NoError(t, json.Unmarshal(out, &targets), "%s", out)
	return targets
}

// sdChild is FirstTargetsIn's child: it prints the first targets of every discoverer section of the
// plugin configuration in DP_TEST_SD_CONF as JSON, by section id.
func sdChild() {
	targets, err := func() (map[string][]model.LabelSet, error) {
		data, err := os.ReadFile(os.Getenv("DP_TEST_SD_CONF"))
		if err != nil {
			return nil, err
		}
		configs, err := sdConfigs(data)
		if err != nil {
			return nil, err
		}
		byID := map[string][]model.LabelSet{}
		for key, cfg := range configs {
			found, err := FirstTargets(cfg, 20*time.Second)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
			if len(found) > 0 {
				byID[key.ID] = found
			}
		}
		return byID, nil
	}()
	if err == nil {
		err = json.NewEncoder(os.Stdout).Encode(targets)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sd:", err)
		os.Exit(1)
	}
}
