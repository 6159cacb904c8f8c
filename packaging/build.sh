#!/usr/bin/env bash
# Builds the edgespool static binaries for every gateway architecture and the
# .deb and .rpm packages for each into dist/:
#
#   bash packaging/build.sh
#
# Output:
#   dist/bin/linux_<arch>/edgespool[-sim]       static binaries (amd64, arm64, armv7)
#   dist/edgespool_<version>-1_<arch>.deb       the agent (amd64, arm64, armhf)
#   dist/edgespool-<version>-1.<arch>.rpm       (x86_64, aarch64, armv7hl)
#   dist/edgespool-sim_<version>-1_<arch>.deb   the drill tool, same arches
#   dist/edgespool-sim-<version>-1.<arch>.rpm
#   dist/SHA256SUMS
#
# Environment (all optional):
#   EDGESPOOL_VERSION     version to stamp and package (default: from git describe)
#   EDGESPOOL_ARCHES      subset of "amd64 arm64 armv7" (default: all three)
#   EDGESPOOL_FORMATS     subset of "deb rpm" (default: both)
#   EDGESPOOL_DIST        output directory (default: <repo>/dist)
#   EDGESPOOL_TOOLS       tool prefix holding bin/nfpm (default: /opt/edgespool-tools)
#   EDGESPOOL_MAINTAINER  package maintainer field
#   EDGESPOOL_CONFIG      default config to package (default: packaging/edgespool.yaml)
#   EDGESPOOL_MOSQUITTO_CONF  broker snippet (default: packaging/mosquitto-edgespool.conf)
#   SOURCE_DATE_EPOCH     file times in the packages (default: last commit time)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

MODULE=github.com/edgespool/edgespool
BUILDINFO="$MODULE/agent/buildinfo"
TOOLS="${EDGESPOOL_TOOLS:-/opt/edgespool-tools}"
NFPM="$TOOLS/bin/nfpm"
DIST="${EDGESPOOL_DIST:-$ROOT/dist}"
ARCHES="${EDGESPOOL_ARCHES:-amd64 arm64 armv7}"
FORMATS="${EDGESPOOL_FORMATS:-deb rpm}"
export EDGESPOOL_CONFIG="${EDGESPOOL_CONFIG:-packaging/edgespool.yaml}"
export EDGESPOOL_MOSQUITTO_CONF="${EDGESPOOL_MOSQUITTO_CONF:-packaging/mosquitto-edgespool.conf}"
export EDGESPOOL_MAINTAINER="${EDGESPOOL_MAINTAINER:-edgespool maintainers <maintainers@edgespool.invalid>}"

log() { echo "build: $*" >&2; }
die() { echo "build: error: $*" >&2; exit 1; }

# pkg_version turns a `git describe --tags --always --dirty` result into a
# version dpkg and rpm both accept and order correctly:
#   v1.2.3                  -> 1.2.3
#   v1.2.3-rc1              -> 1.2.3~rc1              (pre-release sorts before 1.2.3)
#   v1.2.3-4-gabc1234       -> 1.2.3+git4.abc1234     (after 1.2.3, before 1.2.4)
#   abc1234 (no tag yet)    -> 0.0.0+git<commits>.abc1234
#   …-dirty                 -> ….dirty
#   0.0.0-dev (no git)      -> 0.0.0~dev
pkg_version() {
	local d=$1 dirty="" base pre="" n="" hash=""
	if [[ $d == *-dirty ]]; then dirty=.dirty; d=${d%-dirty}; fi
	d=${d#v}
	if [[ $d =~ ^(.*)-([0-9]+)-g([0-9a-f]+)$ ]]; then
		d=${BASH_REMATCH[1]} n=${BASH_REMATCH[2]} hash=${BASH_REMATCH[3]}
	elif [[ $d =~ ^[0-9a-f]{7,40}$ ]]; then
		hash=$d d=0.0.0
		n=$(git rev-list --count HEAD 2>/dev/null || echo 0)
	fi
	base=$d
	if [[ $d =~ ^([0-9][0-9.]*)-(.+)$ ]]; then
		base=${BASH_REMATCH[1]} pre="~${BASH_REMATCH[2]}"
	fi
	local v="$base$pre"
	[[ -n $hash ]] && v="$v+git$n.$hash"
	v="$v$dirty"
	# Characters both formats accept: alphanumerics and . + ~ (no '-', it
	# separates the release; no '_').
	v=$(printf '%s' "$v" | tr -c 'A-Za-z0-9.+~' '.')
	[[ $v =~ ^[0-9] ]] || v="0.0.0+$v"
	printf '%s\n' "$v"
}

resolve_version() {
	if [[ -n ${EDGESPOOL_VERSION:-} ]]; then
		pkg_version "$EDGESPOOL_VERSION"
		return
	fi
	local d
	d=$(git describe --tags --always --dirty 2>/dev/null) || d=0.0.0-dev
	pkg_version "$d"
}

# go_env ARCH prints the GOARCH/GOARM pair, nfpm arch and dist dir suffix.
go_target() {
	case $1 in
	amd64) echo "amd64 - amd64" ;;
	arm64) echo "arm64 - arm64" ;;
	armv7) echo "arm 7 arm7" ;;
	*) die "unknown arch '$1' (want amd64, arm64 or armv7)" ;;
	esac
}

# commands prints the main packages to build: the agent, and the simulator
# once it exists.
commands() {
	echo ./agent/cmd/edgespool
	if compgen -G 'sim/cmd/edgespool-sim/*.go' >/dev/null; then echo ./sim/cmd/edgespool-sim; fi
}

build_binaries() { # arch outdir
	local arch=$1 out=$2 goarch goarm
	read -r goarch goarm _ <<<"$(go_target "$arch")"
	[[ $goarm == - ]] && goarm=""
	rm -rf "$out" && mkdir -p "$out"
	local ldflags="-s -w -buildid= -X $BUILDINFO.Version=$VERSION -X $BUILDINFO.Commit=$COMMIT -X $BUILDINFO.Date=$BUILD_DATE"
	local pkg
	for pkg in $(commands); do
		log "go build $pkg for linux/$goarch${goarm:+ GOARM=$goarm}"
		CGO_ENABLED=0 GOOS=linux GOARCH=$goarch GOARM=$goarm \
			go build -trimpath -ldflags "$ldflags" -o "$out/$(basename "$pkg")" "$pkg"
	done
}

# nfpm_configs BINDIR prints the nfpm file of each package to build: the
# agent, and the drill tool when its binary was built.
nfpm_configs() {
	echo packaging/nfpm.yaml
	if [[ -x $1/edgespool-sim ]]; then echo packaging/nfpm-sim.yaml; fi
}

# render_config CONF OUT: CONF with ${EDGESPOOL_PKG_VERSION} replaced
# everywhere, also in the package relations nfpm does not expand (Breaks,
# Replaces).
render_config() {
	sed "s/\${EDGESPOOL_PKG_VERSION}/$VERSION/g" "$1" >"$2"
}

build_packages() { # arch bindir
	local arch=$1 bindir=$2 nfpm_arch fmt conf rendered
	read -r _ _ nfpm_arch <<<"$(go_target "$arch")"
	for conf in $(nfpm_configs "$bindir"); do
		rendered="$RENDER_DIR/$(basename "$conf")"
		render_config "$conf" "$rendered"
		for fmt in $FORMATS; do
			log "nfpm $fmt for $arch ($conf)"
			EDGESPOOL_ARCH=$nfpm_arch EDGESPOOL_BINDIR=$bindir EDGESPOOL_PKG_VERSION=$VERSION \
				"$NFPM" package --config "$rendered" --packager "$fmt" --target "$DIST/" >&2
		done
	done
}

check_inputs() {
	[[ -x $NFPM ]] || die "$NFPM not found: run .ci/setup (or set EDGESPOOL_TOOLS)"
	command -v go >/dev/null || die "go not found in PATH"
	local f
	for f in "$EDGESPOOL_CONFIG" "$EDGESPOOL_MOSQUITTO_CONF"; do
		[[ -f $f ]] || die "$f is missing (the default config and the broker snippet ship in the package)"
	done
}

main() {
	check_inputs
	VERSION=$(resolve_version)
	COMMIT=$(git rev-parse HEAD 2>/dev/null || echo unknown)
	if [[ -z ${SOURCE_DATE_EPOCH:-} ]]; then
		SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s)
	fi
	export SOURCE_DATE_EPOCH
	# The commit time, not the wall clock: rebuilding a commit gives the same bytes.
	BUILD_DATE=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
	log "version $VERSION, commit ${COMMIT:0:12}, arches: $ARCHES, formats: $FORMATS"
	mkdir -p "$DIST"
	RENDER_DIR=$(mktemp -d)
	trap 'rm -rf "$RENDER_DIR"' EXIT
	# dist/ holds the packages of this build only.
	rm -f "$DIST"/edgespool_*.deb "$DIST"/edgespool-sim_*.deb "$DIST"/edgespool-*.rpm "$DIST/SHA256SUMS"
	printf '%s\n' "$VERSION" >"$DIST/VERSION"
	printf '%s\n' "$COMMIT" >"$DIST/COMMIT"
	local arch bindir
	for arch in $ARCHES; do
		bindir="$DIST/bin/linux_$arch"
		build_binaries "$arch" "$bindir"
		build_packages "$arch" "$bindir"
	done
	(cd "$DIST" && shopt -s nullglob && sha256sum -- *.deb *.rpm >SHA256SUMS)
	log "done:"
	ls -1 "$DIST"/*.deb "$DIST"/*.rpm 2>/dev/null | sed 's/^/  /' >&2 || true
}

main "$@"
