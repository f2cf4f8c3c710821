#!/usr/bin/env bash
# Builds the real etcd and kube-apiserver that the Kubernetes tests of ./tests start, from the Go module proxy,
# into a cache outside the repository keyed by version; a binary already there is kept. Neither module can be
# `go install`ed (their go.mod files hold replace lines), so each builds in a scratch module.
#
#   scripts/kube-apiserver.sh         build what is missing, then print the two paths
#   scripts/kube-apiserver.sh paths   only print the two paths (etcd, then kube-apiserver), built or not
#
# The first build takes about 2.5 minutes (etcd) and 5 (kube-apiserver) of 2 idle cores, up to 30 on busy
# ones, and 2.8 GB of memory for the compiler; later builds, with Go's build cache warm, take seconds.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.37.2}
ETCD_VERSION=${ETCD_VERSION:-v3.7.3}
DIR=${DP_KUBE_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/discovering-prometheus}
GO=${GO:-go}
NICE=${NICE:-nice -n 10}

log() { printf 'kube-apiserver.sh: %s\n' "$*" >&2; }

# build_etcd writes $DIR/etcd-$ETCD_VERSION.
build_etcd() {
	local out=$DIR/etcd-$ETCD_VERSION scratch
	[ -x "$out" ] && return
	scratch=$(mktemp -d) && trap 'rm -rf "$scratch"' RETURN
	printf 'module example.com/etcdbuild\n\ngo 1.25\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" >"$scratch/go.mod"
	printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' >"$scratch/tools.go"
	log "building etcd $ETCD_VERSION from the Go module proxy (first time: about 2.5 minutes)"
	local start=$SECONDS
	(cd "$scratch" && GOFLAGS=-mod=mod $NICE "$GO" mod tidy && $NICE "$GO" build -trimpath -o "$out.tmp" go.etcd.io/etcd/server/v3)
	mv "$out.tmp" "$out"
	log "etcd built in $((SECONDS - start)) s: $out"
}

# build_apiserver writes $DIR/kube-apiserver-$K8S_VERSION. Its module maps each staging module
# (k8s.io/X => ./staging/src/k8s.io/X in k8s.io/kubernetes's go.mod) to its release on the proxy, v0.M.P.
build_apiserver() {
	local out=$DIR/kube-apiserver-$K8S_VERSION scratch gomod staging=v0${K8S_VERSION#v1} minor
	[ -x "$out" ] && return
	scratch=$(mktemp -d) && trap 'rm -rf "$scratch"' RETURN
	gomod=$(cd "$scratch" && GOFLAGS=-mod=mod "$GO" mod download -json "k8s.io/kubernetes@$K8S_VERSION" |
		sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
	{
		printf 'module example.com/kubeapiserverbuild\n\ngo 1.26.0\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$K8S_VERSION"
		sed -n '/^replace (/,/^)/p' "$gomod" | grep '=>' | awk -v v="$staging" '{print "\t"$1" => "$1" "v}'
		echo ')'
	} >"$scratch/go.mod"
	printf '//go:build tools\n\npackage tools\n\nimport _ "k8s.io/kubernetes/cmd/kube-apiserver"\n' >"$scratch/tools.go"
	log "building kube-apiserver $K8S_VERSION from the Go module proxy (first time: 5 minutes on 2 idle cores, up to 30 on busy ones)"
	local start=$SECONDS
	minor=${K8S_VERSION#v1.} && minor=${minor%%.*}
	# without -X the binary reports v0.0.0-master
	local ldflags="-X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1"
	ldflags+=" -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
	(cd "$scratch" && GOFLAGS=-mod=mod $NICE "$GO" mod tidy &&
		$NICE "$GO" build -trimpath -ldflags "$ldflags" -o "$out.tmp" k8s.io/kubernetes/cmd/kube-apiserver)
	mv "$out.tmp" "$out"
	log "kube-apiserver built in $((SECONDS - start)) s: $out"
}

case "${1:-build}" in
build)
	mkdir -p "$DIR"
	build_etcd
	build_apiserver
	"$0" paths
	;;
paths)
	echo "$DIR/etcd-$ETCD_VERSION"
	echo "$DIR/kube-apiserver-$K8S_VERSION"
	;;
*)
	echo "usage: $0 [build|paths]" >&2
	exit 2
	;;
esac
