# make run:  the standalone runner on its embedded default configuration (one gather, line protocol).
# make lint: golangci-lint with .golangci.yml (built from tools/go.mod, a module of its own so that its
#            requirements do not move ours; its first build takes about 2.5 minutes on 2 cores).
# make lint-docs: the plugin's README against Telegraf's own README linter and its sample.conf.
# make test: the whole suite. It installs the servers the integration tests start (Debian packages) when
#            they are missing, builds the real kube-apiserver and etcd from the Go module proxy when they are
#            not in ~/.cache/discovering-prometheus (scripts/kube-apiserver.sh: the first build takes about
#            2.5 + 5 minutes of 2 idle cores, up to 30 on busy ones, and 2.8 GB of memory) and the real
#            kapacitord 1.5.9 the config API is compared with (tests/kapacitord/build.sh, about 3.5 minutes
#            once), and tells the tests to fail rather than skip when one is still absent.

GO ?= go

# binary-or-path:package pairs of the real servers the tests start (and the browser that loads the status
# page; its screenshot goes to $DP_ARTIFACTS when that is set).
SERVERS := \
	prometheus-node-exporter:prometheus-node-exporter \
	prometheus:prometheus \
	dnsmasq:dnsmasq-base \
	/usr/share/java/zookeeper.jar:zookeeper \
	java:default-jre-headless \
	ip:iproute2 \
	influxd:influxdb \
	chromium:chromium

# Every fuzz target runs this long in make test; FUZZTIME=10m make fuzz runs them longer. Go counts the
# replay of the seeds against it and fails a target whose replay outlasts it: FuzzGather's seeds (real
# gathers of node_exporter bodies) take about 1 s on an idle 2-core machine, so 5 s leaves a loaded CI room.
FUZZTIME ?= 5s

.PHONY: run test servers vet lint lint-docs race fuzz

run:
	$(GO) run ./cmd/discovering-prometheus -once

test: servers vet lint lint-docs
	DP_REQUIRE_SERVERS=1 $(GO) test -count=1 -timeout 25m ./...
	@$(MAKE) --no-print-directory race fuzz

# The unit tests again under the race detector, then the end-to-end tests of ./tests that run in this
# process: the plugin with its discovery and scrapers against fakes and loopback exporters, and the
# operator's monitors followed live on the real API server. Left out are those that start a built binary
# (Runner, Telegraf) or a real server of their own (ZooKeeper: nerve, serverset, zookeeper-restart;
# dnsmasq: dns), the soak, and parse-overruns-timeout, which asserts that parsing (not inflating) overruns
# a 1s timeout, a timing that the race detector's slowdown of gzip changes. They add about 1.5 minutes
# (make race went from 1m05s to 2m37s on 2 shared cores), azure (SDK retry back-off) and consul the longest.
RACE_E2E := ^(TestFaults|TestDiscoverers|TestKapacitorConfig|TestKapacitorConfigConflicts|TestPrometheusConfig|TestPrometheusConfigErrors|TestOperatorLive)$$
RACE_E2E_SKIP := /^(zookeeper-restart|parse-overruns-timeout|dns|nerve|serverset)$$

race:
	$(GO) test -race -count=1 ./scrape ./discovery ./cluster ./plan ./operator ./internal/... ./plugins/... ./kapacitor/... ./promconf ./telegrafconf
	DP_REQUIRE_SERVERS=1 $(GO) test -race -count=1 -timeout 10m -run '$(RACE_E2E)' -skip '$(RACE_E2E_SKIP)' ./tests

# Every func FuzzXxx of the module, found in the sources, for FUZZTIME each. Minimizing a new input is cut
# short (100 runs), or it would take the whole FUZZTIME of a target with large seeds. Each run starts from
# the seeds and testdata/fuzz alone, in a fresh corpus cache: Go counts replaying the cached corpus against
# FUZZTIME, so a cache that grows with every run (GOCACHE/fuzz) would one day leave no time to fuzz and
# fail the target with "context deadline exceeded". A crasher is still written to testdata/fuzz. A target
# that fails is run once more: Go 1.26's coordinator can report "context deadline exceeded" at the end of
# FUZZTIME with no failing input (go.dev/issue/75804), and a real one, written to testdata/fuzz, is replayed
# as a seed by the second run and fails it.
fuzz:
	@cache=$$(mktemp -d) && trap 'rm -rf "$$cache"' EXIT && \
	grep -rlE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(' . | sort | while read -r file; do \
		for name in $$(sed -nE 's/^func (Fuzz[A-Za-z0-9_]*)\(.*/\1/p' "$$file"); do \
			echo "fuzz $$(dirname "$$file") $$name"; \
			fuzz() { $(GO) test -run='^$$' -fuzz="^$$name$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=100x "$$(dirname "$$file")" \
				-args -test.fuzzcachedir="$$cache/$$(dirname "$$file")"; }; \
			fuzz || { echo "fuzz $$name again: Go's coordinator can fail a target with \"context deadline exceeded\" at -fuzztime's end (go.dev/issue/75804, fixed in Go 1.27); a failing input it found is in testdata/fuzz and fails this run too"; fuzz; } || exit 1; \
		done; \
	done

# Vetted twice: as built by default, and with every discoverer left out (-tags remove_all_sd), so that the
# code and tests of a build that leaves discoverers out compile too.
vet:
	$(GO) vet ./...
	$(GO) vet -tags remove_all_sd ./...
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }

# golangci-lint, from its own module (tools/go.mod): as a tool of go.mod its requirements would raise ours
# (gopsutil, purego, ...). The checks are in .golangci.yml. The remove_all_sd build is linted too (its one
# file of its own, leftout_test.go), but for unused: there the helpers of the left-out discoverers are.
lint:
	$(GO) tool -modfile=tools/go.mod golangci-lint run ./...
	$(GO) tool -modfile=tools/go.mod golangci-lint run --build-tags remove_all_sd --disable unused ./...

# Every relative link of every .md file must name a file of the repository (http links go where they say).
# Then Telegraf's tools/readme_linter (a tool of go.mod) on the plugin's README, with every rule but one: that
# links to github.com/influxdata/telegraf/blob be relative, which holds for READMEs inside Telegraf's
# repository, not for ours, whose links into Telegraf's docs must leave it. Then the README's configuration
# block must be sample.conf, as Telegraf's tools/readme_config_includer (go generate) writes it.
PLUGIN_DIR := plugins/inputs/discovering_prometheus
TELEGRAF_LINK_RULE := in-repo link must be relative: https://github.com/influxdata/telegraf/blob/

lint-docs:
	@status=0; for f in $$(find . -name '*.md' -not -path './.git/*'); do \
		for l in $$(grep -oE '\]\([^)#[:space:]]+' "$$f" | sed 's/^](//' | grep -vE '^[a-z]+:'); do \
			p=$$(realpath -m "$$(dirname "$$f")/$$l"); \
			case "$$p" in "$$(pwd)"/*) [ -e "$$p" ] || { echo "$$f: $$l does not exist"; status=1; } ;; \
				*) echo "$$f: $$l leaves the repository"; status=1 ;; esac; \
		done; \
	done; exit $$status
	@out=$$($(GO) tool readme_linter -quiet $(PLUGIN_DIR)/README.md); status=$$?; \
	rest=$$(printf '%s\n' "$$out" | grep -vF '$(TELEGRAF_LINK_RULE)' | grep .); \
	if [ -n "$$rest" ] || { [ $$status -ne 0 ] && [ -z "$$out" ]; }; then \
		echo "readme_linter: $(PLUGIN_DIR)/README.md"; printf '%s\n' "$$rest"; exit 1; \
	fi
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(GO) build -o "$$tmp/includer" github.com/influxdata/telegraf/tools/readme_config_includer && \
	cp $(PLUGIN_DIR)/README.md $(PLUGIN_DIR)/sample.conf "$$tmp" && (cd "$$tmp" && ./includer) && \
	diff -u $(PLUGIN_DIR)/README.md "$$tmp/README.md" || \
	{ echo "$(PLUGIN_DIR)/README.md differs from its sample.conf: run go generate ./$(PLUGIN_DIR)"; exit 1; }

servers:
	@missing=""; \
	for pair in $(SERVERS); do \
		bin=$${pair%%:*}; pkg=$${pair##*:}; \
		if [ -e "$$bin" ] || command -v "$$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$$bin" ]; then continue; fi; \
		missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
		sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		echo "installing:$$missing"; \
		$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@GO=$(GO) scripts/kube-apiserver.sh build >/dev/null
	@tests/kapacitord/build.sh >/dev/null
