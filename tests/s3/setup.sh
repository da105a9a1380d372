#!/usr/bin/env bash
# Installs the real S3 clients the S3 front's pytest suite drives (tests/s3/test_clients.py,
# run by tests/integration/s3_clients.rs): boto3, awscli and pytest from PyPI into a venv
# under target/s3-clients/venv, and rclone from Debian (apt). Idempotent; prints the venv's
# python on its last line.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv="${BACKRUNNER_S3_VENV:-$PWD/target/s3-clients/venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import boto3, awscli, pytest' 2>/dev/null; then
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet -r tests/s3/requirements.txt
fi
if ! command -v rclone >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then apt=(apt-get); else apt=(sudo apt-get); fi
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y --no-install-recommends rclone >/dev/null \
    || { "${apt[@]}" update >/dev/null && DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y --no-install-recommends rclone >/dev/null; }
fi
rclone version | head -n 1 >&2
echo "$venv/bin/python"
