#!/usr/bin/env bash
# Creates .venv with the pinned Python consumers used by the interop tests
# (rio-cogeo, stac-valid, xarray + zarr-python + netCDF4, dask). Re-running is quick when the pins have not changed.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${STACFORGE_VENV:-.venv}
req=scripts/interop-requirements.txt
stamp="$venv/.requirements"
if [ -x "$venv/bin/python" ] && cmp -s "$req" "$stamp"; then
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
cp "$req" "$stamp"
echo "setup-interop: $("$venv/bin/rio" cogeo --version 2>&1 | head -1); $("$venv/bin/python" -c "import xarray, zarr; print('xarray', xarray.__version__, 'zarr', zarr.__version__)")" >&2
