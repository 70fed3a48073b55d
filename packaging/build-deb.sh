#!/usr/bin/env bash
# Cross-builds thingd for one Debian architecture and packages it:
#   packaging/build-deb.sh ARCH     (amd64 | arm64 | armhf | armel)
# → bin/ARCH/thingd and dist/thingd_VERSION_ARCH.deb. Run from anywhere.
# VERSION, COMMIT, BUILD_TIME and GO may be set by the caller (the Makefile does).
# For tests that need a package other than the release (packaging/e2e's upgrade test):
#   OUT=DIR       bin/ARCH/ and dist/ go under DIR, the repository's stay untouched
#   EXAMPLE=FILE  ships FILE as /usr/share/thingd/thingd.toml instead of packaging/thingd.toml
set -euo pipefail
# Relative to where the caller stands, before the cd below.
out=${OUT:+$(realpath -m "$OUT")}
example=${EXAMPLE:+$(realpath -e "$EXAMPLE")}
cd "$(dirname "$0")/.."

arch=${1:?usage: packaging/build-deb.sh amd64|arm64|armhf|armel}
# Go's arm is split deliberately: armhf is Debian's ARMv7 port (Pi 2 and
# later); armel with GOARM=6 runs on the ARMv6 Pi Zero and Pi 1.
case "$arch" in
amd64) goarch=amd64 goarm= ;;
arm64) goarch=arm64 goarm= ;;
armhf) goarch=arm goarm=7 ;;
armel) goarch=arm goarm=6 ;;
*) echo "build-deb.sh: unknown architecture '$arch': use amd64, arm64, armhf or armel" >&2; exit 2 ;;
esac

GO=${GO:-go}
VERSION=${VERSION:-$(cat packaging/VERSION)}
COMMIT=${COMMIT:-$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)}
BUILD_TIME=${BUILD_TIME:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
# Same inputs give the same .deb: file times come from the last commit.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$BUILD_TIME}

bindir=${out:-.}/bin/$arch dist=${out:-.}/dist
mkdir -p "$bindir" "$dist"
CGO_ENABLED=0 GOOS=linux GOARCH=$goarch GOARM=$goarm "$GO" build -trimpath \
	-ldflags "-s -w -X main.version=$VERSION -X main.commit=$COMMIT -X main.buildTime=$BUILD_TIME" \
	-o "$bindir/thingd" ./cmd/thingd

# The licences of everything linked into this binary (packaging/copyright.sh).
GOOS=linux GOARCH=$goarch GOARM=$goarm GO=$GO packaging/copyright.sh > "$bindir/copyright"
# nfpm comes from the tools module (internal/tools), not thingd's own module graph.
(cd internal/tools && CGO_ENABLED=0 "$GO" build -o ../../bin/nfpm github.com/goreleaser/nfpm/v2/cmd/nfpm)
config=packaging/nfpm.yaml
if [ -n "$out$example" ]; then
	# nfpm.yaml names its sources relative to the repository, so a copy points
	# at the other ones; each line must have matched, or the package would
	# silently hold the release's files.
	config=$(mktemp --suffix=.yaml)
	trap 'rm -f "$config"' EXIT
	edits=() want=0
	if [ -n "$out" ]; then
		edits+=(-e "s|^\(  - src: \)bin/\\\${ARCH}/|\1$bindir/|") want=2
	fi
	if [ -n "$example" ]; then
		edits+=(-e "s|^\(  - src: \)packaging/thingd\.toml\$|\1$example|") want=$((want + 1))
	fi
	sed "${edits[@]}" packaging/nfpm.yaml > "$config"
	changed=$(diff packaging/nfpm.yaml "$config" | grep -c '^>' || true)
	if [ "$changed" != "$want" ]; then
		echo "build-deb.sh: OUT/EXAMPLE changed $changed lines of packaging/nfpm.yaml, expected $want: update the sed here" >&2
		exit 1
	fi
fi
ARCH=$arch VERSION=$VERSION GOARM=$goarm \
	bin/nfpm package --config "$config" --packager deb --target "$dist/"
