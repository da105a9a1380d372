#!/usr/bin/env bash
# Runs every test: unit, protocol-capture, property/fuzz and integration tests over real
# sockets (nodes as tasks and as processes), the unused-dependency check (cargo machete),
# the Helm chart (charts/test.sh), the S3 front against boto3, aws-cli and rclone
# (tests/s3/setup.sh installs them), then the e2e
# scenarios on a real kube-apiserver + etcd. e2e/setup.sh installs the Debian packages and
# builds kube-apiserver once (cached in ~/.cache/backrunner-e2e); on a fresh machine it
# runs in the background, at low priority, while the workspace builds and tests.
# Usage: ./test.sh            (what CI runs)
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p target
status=0
# The real Elliptics 3.0 server beside the repository (../shared/elliptics-oracle): the
# integration suite runs the proxy and the CLI against it as against our node. Its runtime
# libraries come from apt (installed first: e2e/setup.sh below uses apt too); once the
# directory exists, a broken oracle fails the suite.
oracle_dir="${BACKRUNNER_ORACLE_DIR:-$PWD/../shared/elliptics-oracle}"
if [ -x "$oracle_dir/run-node.sh" ]; then
  "$oracle_dir/install-deps.sh" >target/oracle-deps.log 2>&1 || {
    echo "test.sh: $oracle_dir/install-deps.sh failed:" >&2
    tail -n 20 target/oracle-deps.log >&2
    status=1
  }
  export BACKRUNNER_ORACLE_DIR="$oracle_dir" BACKRUNNER_ORACLE_REQUIRED=1
else
  echo "test.sh: no Elliptics oracle at $oracle_dir: the tests against a real Elliptics cluster are skipped" >&2
fi
nice -n 19 e2e/setup.sh >target/e2e-setup.out 2>target/e2e-setup.log &
setup_pid=$!
# The real S3 clients of the S3 front's suite (integration test s3_clients runs
# tests/s3/test_clients.py): boto3, awscli and pytest in a venv under target/, rclone from apt.
tests/s3/setup.sh >target/s3-clients.out 2>target/s3-clients.log &
s3_setup_pid=$!
# cargo-machete keeps unused dependencies out (installed once, in the background).
machete_pid=
if ! command -v cargo-machete >/dev/null 2>&1; then
  nice -n 19 cargo install --locked cargo-machete@0.9.2 >target/machete-install.log 2>&1 &
  machete_pid=$!
fi
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "test.sh: cargo-nextest not found, installing it (one time)" >&2
  cargo install --locked cargo-nextest
fi
# Process tests run the debug binary: it shares the dependency build with the tests.
cargo build --bin backrunner
export BACKRUNNER_BIN="$PWD/target/debug/backrunner"
if wait "$s3_setup_pid"; then
  export BACKRUNNER_REQUIRE_S3_CLIENTS=1
else
  echo "test.sh: tests/s3/setup.sh failed; the S3 client suite is skipped. Its log:" >&2
  tail -n 20 target/s3-clients.log >&2
  status=1
fi
cargo nextest run --workspace --exclude backrunner-e2e --no-fail-fast || status=1
cargo test --workspace --doc || status=1
if [ -n "$machete_pid" ] && ! wait "$machete_pid"; then
  echo "test.sh: installing cargo-machete failed:" >&2
  tail -n 20 target/machete-install.log >&2
  status=1
fi
cargo machete || status=1
# Chart and e2e: etcd, kube-apiserver, kube-controller-manager, Helm, operators and proxies
# as processes.
if wait "$setup_pid" && E2E_KUBE_BIN="$(tail -n 1 target/e2e-setup.out)" && [ -x "$E2E_KUBE_BIN/kube-apiserver" ]; then
  export E2E_KUBE_BIN E2E_BIN="$E2E_KUBE_BIN"
  charts/test.sh || status=1
  cargo nextest run -p backrunner-e2e --no-fail-fast --test-threads 2 || status=1
else
  echo "test.sh: e2e/setup.sh failed; chart and e2e tests not run. Its log:" >&2
  tail -n 40 target/e2e-setup.log >&2
  status=1
fi
exit "$status"
