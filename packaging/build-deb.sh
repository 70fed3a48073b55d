#!/usr/bin/env bash
# Cross-builds thingd for one Debian architecture and packages it:
#   packaging/build-deb.sh ARCH     (amd64 | arm64 | armhf | armel)
# → bin/ARCH/thingd and dist/thingd_VERSION_ARCH.deb. Run from anywhere.
# VERSION, COMMIT, BUILD_TIME and GO may be set by the caller (the Makefile does).
set -euo pipefail
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

mkdir -p "bin/$arch" dist
CGO_ENABLED=0 GOOS=linux GOARCH=$goarch GOARM=$goarm "$GO" build -trimpath \
	-ldflags "-s -w -X main.version=$VERSION -X main.commit=$COMMIT -X main.buildTime=$BUILD_TIME" \
	-o "bin/$arch/thingd" ./cmd/thingd

# The licences of everything linked into this binary (packaging/copyright.sh).
GOOS=linux GOARCH=$goarch GOARM=$goarm GO=$GO packaging/copyright.sh > "bin/$arch/copyright"
# nfpm comes from the tools module (internal/tools), not thingd's own module graph.
(cd internal/tools && CGO_ENABLED=0 "$GO" build -o ../../bin/nfpm github.com/goreleaser/nfpm/v2/cmd/nfpm)
ARCH=$arch VERSION=$VERSION GOARM=$goarm \
	bin/nfpm package --config packaging/nfpm.yaml --packager deb --target dist/
