#!/usr/bin/env bash
# Installs the servers the integration tests start on loopback: s3s-fs (an
# S3-compatible server with real request signing) into .tools/, and the STAC
# API (stac-fastapi-pgstac + pypgstac, pinned) into .venv-api; PostgreSQL and
# PostGIS come from install-system-deps.sh. Quick when already installed.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=${STACFORGE_TOOLS:-.tools}
if [ ! -x "$tools/bin/s3s-fs" ]; then
  echo "install-test-servers: building s3s-fs 0.14.1 into $tools (about 1.5 minutes)" >&2
  cargo install s3s-fs --version 0.14.1 --features binary --locked --root "$tools" --quiet
fi
"$tools/bin/s3s-fs" --version >&2
bash scripts/stac-api.sh install
