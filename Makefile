# make run:  the standalone runner on its embedded default configuration (one gather, line protocol).
# make test: the whole suite. It installs the servers the integration tests start (Debian packages) when
#            they are missing, and tells the tests to fail rather than skip when one is still absent.

GO ?= go

# binary-or-path:package pairs of the real servers the tests start.
SERVERS := \
	prometheus-node-exporter:prometheus-node-exporter \
	prometheus:prometheus \
	dnsmasq:dnsmasq-base \
	/usr/share/java/zookeeper.jar:zookeeper \
	java:default-jre-headless \
	ip:iproute2 \
	influxd:influxdb

.PHONY: run test servers vet

run:
	$(GO) run ./cmd/discovering-prometheus -once

test: servers vet
	DP_REQUIRE_SERVERS=1 $(GO) test -count=1 -timeout 25m ./...

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }

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
