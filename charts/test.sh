#!/usr/bin/env bash
# Tests of the Helm chart charts/backrunner and the manifests in examples/ (see
# charts/chart_test.py): helm lint, helm install into a real kube-apiserver + etcd (RBAC
# decisions checked with `kubectl auth can-i`), and the chart's rendered scripts and
# configuration running the real binary (two nodes, a proxy, an upload).
# Usage: charts/test.sh     Environment (all optional): BACKRUNNER_BIN, E2E_BIN.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -c 'import helm_sdkpy, yaml' 2>/dev/null; then
  echo "charts/test.sh: installing helm-sdkpy (Helm as a library) and PyYAML" >&2
  pip install --quiet --ignore-requires-python helm-sdkpy pyyaml
fi
if ! command -v kubectl >/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get install -y -qq kubernetes-client >/dev/null
fi
# kube-apiserver (cached by e2e/setup.sh after its first build) and etcd.
E2E_BIN=${E2E_BIN:-$(e2e/setup.sh | tail -n 1)}
if [ -z "${BACKRUNNER_BIN:-}" ]; then
  cargo build --quiet --bin backrunner
  BACKRUNNER_BIN="$PWD/target/debug/backrunner"
fi
export E2E_BIN BACKRUNNER_BIN PYTHONDONTWRITEBYTECODE=1
exec python3 charts/chart_test.py
