#!/usr/bin/env bash
# Runs every test of the workspace: unit, protocol-capture, property/fuzz and
# integration tests over real sockets (nodes as tasks and as processes), then the e2e
# scenarios on a real kube-apiserver + etcd (e2e/setup.sh builds and caches them once).
# Usage: ./test.sh            (what CI runs)
set -euo pipefail
cd "$(dirname "$0")"
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "test.sh: cargo-nextest not found, installing it (one time)" >&2
  cargo install --locked cargo-nextest
fi
# Process tests run the debug binary: it shares the dependency build with the tests.
cargo build --bin backrunner
export BACKRUNNER_BIN="$PWD/target/debug/backrunner"
status=0
cargo nextest run --workspace --exclude backrunner-e2e --no-fail-fast || status=1
# e2e: etcd, kube-apiserver, kube-controller-manager, Helm, operator and proxies as processes.
E2E_KUBE_BIN="$(e2e/setup.sh | tail -n 1)"
export E2E_KUBE_BIN
cargo nextest run -p backrunner-e2e --no-fail-fast --test-threads 2 || status=1
cargo test --workspace --doc || status=1
exit "$status"
