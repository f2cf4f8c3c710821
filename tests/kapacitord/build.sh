#!/bin/sh
# Builds a real kapacitord (the test oracle of the Kapacitor config API, see ../kapacitor_api_test.go) from
# the Go module proxy, once per machine: the binary is cached outside the repository, keyed by version, in
# ${DP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/discovering-prometheus}/kapacitord-<version>, and its path is
# printed. Kapacitor 1.5.9 needs one fix to build with a current Go: its ugorji/go codec has a duplicate
# symbol in a base64 alphabet, which Go >= 1.2x refuses at init (a panic), so that module is copied, patched
# and replaced. A first build takes a few minutes on 2 cores.
set -eu
version=${KAPACITOR_VERSION:-1.5.9}
ugorji=v0.0.0-20170312112114-708a42d24682
cache=${DP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/discovering-prometheus}
bin=$cache/kapacitord-$version
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi

export GOWORK=off GOFLAGS=-mod=mod GOTOOLCHAIN=local
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
moddir() { (cd "$work" && go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'); }
cp -R "$(moddir github.com/influxdata/kapacitor@v$version)" "$work/kapacitor"
cp -R "$(moddir github.com/ugorji/go@$ugorji)" "$work/ugorji-go"
chmod -R u+w "$work"
sed -i 's/0123456789__"/0123456789_."/' "$work/ugorji-go/codec/gen.go"
printf 'module github.com/ugorji/go\n\ngo 1.12\n' >"$work/ugorji-go/go.mod"
cd "$work/kapacitor"
go mod edit -replace github.com/ugorji/go=../ugorji-go
mkdir -p "$cache"
go build -o "$bin.tmp" ./cmd/kapacitord >&2
mv "$bin.tmp" "$bin"
echo "$bin"
