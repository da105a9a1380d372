#!/usr/bin/env bash
# Prepares the e2e control plane on a Debian machine: etcd from Debian, and
# kube-apiserver + kube-controller-manager built from Debian's `kubernetes` source
# package with Debian's Go. Binaries are cached by version in $E2E_CACHE (default
# ~/.cache/backrunner-e2e), so later runs skip the ~5-minute build.
# Also makes sure kubectl (Debian's kubernetes-client when missing) and the helm-sdkpy
# Python library are there.
# Usage: e2e/setup.sh            prints the bin directory on its last line
set -euo pipefail
CACHE="${E2E_CACHE:-$HOME/.cache/backrunner-e2e}"
mkdir -p "$CACHE"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"

need=()
command -v etcd >/dev/null || need+=(etcd-server)
command -v go >/dev/null || need+=(golang-go)
command -v rsync >/dev/null || need+=(rsync)
command -v kubectl >/dev/null || need+=(kubernetes-client)
dpkg -s golang-github-modern-go-reflect2-dev >/dev/null 2>&1 || need+=(golang-github-modern-go-reflect2-dev)
if [ ! -f /etc/apt/sources.list.d/backrunner-deb-src.sources ]; then
  sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
    | $SUDO tee /etc/apt/sources.list.d/backrunner-deb-src.sources >/dev/null
  NEED_UPDATE=1
fi
if [ ${#need[@]} -gt 0 ] || [ -n "${NEED_UPDATE:-}" ]; then
  $SUDO apt-get update -qq
fi
if [ ${#need[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# Helm as a library (the e2e installs the chart with it, see e2e/helm/install.py).
if ! python3 -c 'import helm_sdkpy' 2>/dev/null; then
  python3 -m pip install -q --ignore-requires-python helm-sdkpy >&2
fi

VERSION=$(apt-cache showsrc kubernetes 2>/dev/null | awk '/^Version:/{print $2; exit}')
[ -n "$VERSION" ] || { echo "e2e/setup.sh: no kubernetes source package found" >&2; exit 1; }
BIN="$CACHE/kubernetes-$VERSION/bin"
if [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/kube-controller-manager" ]; then
  echo "$BIN"; exit 0
fi
SRC="$CACHE/src-$VERSION"
if [ ! -d "$SRC" ]; then
  mkdir -p "$SRC.tmp"
  (cd "$SRC.tmp" && apt-get source -qq --download-only kubernetes >/dev/null && dpkg-source -x --no-check ./*.dsc src >/dev/null)
  mv "$SRC.tmp/src" "$SRC"; rm -rf "$SRC.tmp"
fi
# The vendored reflect2 crashes on Go >= 1.18; Debian's packaged copy works.
R2=/usr/share/gocode/src/github.com/modern-go/reflect2
if [ -d "$R2" ]; then
  rm -rf "$SRC/vendor/github.com/modern-go/reflect2"
  cp -r "$R2" "$SRC/vendor/github.com/modern-go/reflect2"
fi
(cd "$SRC" && make WHAT="cmd/kube-apiserver cmd/kube-controller-manager" >"$CACHE/build-$VERSION.log" 2>&1) \
  || { echo "e2e/setup.sh: build failed, see $CACHE/build-$VERSION.log" >&2; exit 1; }
mkdir -p "$BIN"
cp "$SRC"/_output/bin/kube-apiserver "$SRC"/_output/bin/kube-controller-manager "$BIN"/ 2>/dev/null \
  || cp "$SRC"/_output/local/bin/linux/amd64/kube-apiserver "$SRC"/_output/local/bin/linux/amd64/kube-controller-manager "$BIN"/
echo "$BIN"
