#!/usr/bin/env bash
# Runs every test of the workspace: unit, protocol-capture, property/fuzz and
# integration tests over real sockets (nodes as tasks and as processes).
# Usage: ./test.sh            (what CI runs)
set -euo pipefail
cd "$(dirname "$0")"
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "test.sh: cargo-nextest not found, installing it (one time)" >&2
  cargo install --locked cargo-nextest
fi
# Process tests run the debug binary: it shares the dependency build with the tests.
cargo build --bin backrunner
BACKRUNNER_BIN="$PWD/target/debug/backrunner" cargo nextest run --workspace --no-fail-fast
cargo test --workspace --doc
