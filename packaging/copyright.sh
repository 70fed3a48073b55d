#!/usr/bin/env bash
# Writes /usr/share/doc/thingd/copyright for a build: thingd's licence, then the
# licence and notice files of the Go standard library and of every module linked
# into cmd/thingd for that GOOS/GOARCH, verbatim, from the module cache the build
# just used. Usage: packaging/copyright.sh > bin/ARCH/copyright (from the repo root).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}

cat <<'HEAD'
thingd: keeps a device connected to AWS IoT Core.
Licence: Apache-2.0 (below; also /usr/share/common-licenses/Apache-2.0).

/usr/bin/thingd is a static Go binary. Besides thingd it contains the Go
standard library and the Go modules listed after thingd's licence, each with
its licence and notice files verbatim. The built-in Amazon Root CA 1-4
certificates (tls/amazonroots.pem) are public certificates of Amazon Trust
Services, taken from golang.org/x/crypto/x509roots/fallback.

==> thingd <==
HEAD
cat LICENSE

notices() { # dir: the licence and notice files at the top of a module
	local found=
	# edl-v*: Eclipse projects (paho) are dual-licensed, and their LICENSE holds the
	# EPL's text but only a link to the EDL's, which they ship as edl-v10.
	for f in "$1"/LICENSE* "$1"/LICENCE* "$1"/COPYING* "$1"/NOTICE* "$1"/AUTHORS "$1"/PATENTS "$1"/edl-v*; do
		[ -f "$f" ] || continue
		found=1
		printf '\n--- %s ---\n' "$(basename "$f")"
		cat "$f"
	done
	[ -n "$found" ] || { echo "copyright.sh: no licence file in $1" >&2; exit 1; }
}

printf '\n==> Go standard library (%s) <==\n' "$("$GO" env GOVERSION)"
notices "$("$GO" env GOROOT)"

"$GO" list -deps -f '{{with .Module}}{{if not .Main}}{{.Path}} {{.Version}} {{.Dir}}{{end}}{{end}}' ./cmd/thingd |
	sort -u | while read -r path version dir; do
	printf '\n==> %s %s <==\n' "$path" "$version"
	notices "$dir"
done
