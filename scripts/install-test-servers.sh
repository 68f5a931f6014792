#!/usr/bin/env bash
# Installs the servers the integration tests start on loopback: s3s-fs (an
# S3-compatible server with real request signing) into .tools/, Azurite (the
# Azure Blob Storage emulator, npm, pinned) into .tools/azurite with the Azure
# SDK the tests create containers with (.tools/azure), and the STAC
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
azurite_version=3.37.0
if [ "$(cat "$tools/azurite/.version" 2>/dev/null)" != "$azurite_version" ]; then
  echo "install-test-servers: installing Azurite $azurite_version into $tools/azurite" >&2
  npm install --prefix "$tools/azurite" "azurite@$azurite_version" --no-audit --no-fund --silent
  echo "$azurite_version" > "$tools/azurite/.version"
fi
azure_sdk="azure-storage-blob==12.27.1"
if [ "$(cat "$tools/azure/.requirements" 2>/dev/null)" != "$azure_sdk" ]; then
  python3 -m venv "$tools/azure"
  "$tools/azure/bin/pip" install -q --disable-pip-version-check "$azure_sdk"
  echo "$azure_sdk" > "$tools/azure/.requirements"
fi
echo "install-test-servers: Azurite $("$tools/azurite/node_modules/.bin/azurite-blob" --version)" >&2
bash scripts/stac-api.sh install
