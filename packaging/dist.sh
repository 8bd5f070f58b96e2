#!/usr/bin/env bash
# Release artifacts into dist/ (`just dist`):
#   dist/linux_ARCH/            static binaries: meshnode, rendezvous, plugins/
#   dist/meshnode_V_linux_ARCH.tar.gz   those, the units, example configs and
#                               install.sh (sudo BIN=bin packaging/install.sh install)
#   dist/meshnode_DEBV_ARCH.deb  binaries in /usr/bin, plugins, units, configs
#   dist/SHA256SUMS             sha256 of all of the above
# for ARCH in amd64 and arm64 (ARCHES="amd64" for fewer).
#
# The .deb's file tree is what install.sh stages with PREFIX=/usr
# UNITDIR=/lib/systemd/system; nfpm (packaging/nfpm.yaml) packs it. nfpm runs
# with `go run MODULE@VERSION`, so it never enters the product's go.mod.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=${1:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
ARCHES=${ARCHES:-amd64 arm64}
NFPM=${NFPM:-github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.48.0}
DIST=dist

# debversion turns a git describe into a Debian version (it must start with a
# digit): v1.2.3 -> 1.2.3, v1.2.3-4-gabc -> 1.2.3+4.gabc, and without a tag
# abc1234 -> 0.0.0+gitYYYYMMDD.abc1234 (the commit's date); -dirty -> +dirty.
debversion() {
  local v=${1#v} dirty=""
  case $v in *-dirty) v=${v%-dirty}; dirty=dirty ;; esac
  if [[ $v =~ ^([0-9]+(\.[0-9]+)+)(-([0-9]+)-(g[0-9a-f]+))?$ ]]; then
    v=${BASH_REMATCH[1]}
    [ -n "${BASH_REMATCH[3]}" ] && v+="+${BASH_REMATCH[4]}.${BASH_REMATCH[5]}"
  else
    v="0.0.0+git$(git log -1 --format=%cd --date=format:%Y%m%d 2>/dev/null || echo 0).${v//[^0-9A-Za-z.]/.}"
  fi
  if [ -n "$dirty" ]; then
    case $v in *+*) v+=".dirty" ;; *) v+="+dirty" ;; esac
  fi
  echo "$v"
}

if [ "${1:-}" = --debversion ]; then # for the tests
  debversion "$2"
  exit
fi

DEBVERSION=$(debversion "$VERSION")
MTIME=$(git log -1 --format=%ct 2>/dev/null || date +%s)
echo "version $VERSION (deb $DEBVERSION), arches $ARCHES"
rm -rf "$DIST"
mkdir -p "$DIST"

for arch in $ARCHES; do
  out=$DIST/linux_$arch
  build() {
    CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -trimpath -ldflags "-s -w -X main.version=$VERSION" -o "$1" "$2"
  }
  build "$out/meshnode" ./cmd/meshnode
  build "$out/rendezvous" ./cmd/rendezvous
  build "$out/plugins/meshnode-cipher-aesgcm" ./plugins/aesgcm
  build "$out/plugins/meshnode-transport-websocket" ./plugins/websocket

  name=meshnode_${VERSION}_linux_$arch
  tree=$DIST/.tar/$name
  mkdir -p "$tree/packaging"
  cp -r "$out" "$tree/bin"
  cp README.md "$tree/"
  cp -r packaging/install.sh packaging/systemd packaging/etc "$tree/packaging/"
  tar -C "$DIST/.tar" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$MTIME" -czf "$DIST/$name.tar.gz" "$name"

  stage=$DIST/.stage_$arch
  BIN=$out DESTDIR=$PWD/$stage PREFIX=/usr UNITDIR=/lib/systemd/system packaging/install.sh install >/dev/null
  ARCH=$arch VERSION=$DEBVERSION STAGE=$stage go run "$NFPM" package \
    --config packaging/nfpm.yaml --packager deb --target "$DIST/"
done
rm -rf "$DIST/.tar" "$DIST"/.stage_*

(cd "$DIST" && sha256sum -- *.tar.gz *.deb linux_*/meshnode linux_*/rendezvous linux_*/plugins/* >SHA256SUMS)
echo "artifacts in $DIST/:"
(cd "$DIST" && ls -l -- *.tar.gz *.deb SHA256SUMS linux_*/meshnode linux_*/rendezvous)
