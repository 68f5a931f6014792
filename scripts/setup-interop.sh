#!/usr/bin/env bash
# Creates .venv with the pinned Python consumers used by the interop tests
# (rio-cogeo, stac-valid, xarray + zarr-python + netCDF4, dask), and
# .venv-icechunk with Python icechunk (on Python 3.12). Re-running is quick when the pins have not changed.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${STACFORGE_VENV:-.venv}
req=scripts/interop-requirements.txt
stamp="$venv/.requirements"
if ! { [ -x "$venv/bin/python" ] && cmp -s "$req" "$stamp"; }; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
  cp "$req" "$stamp"
  echo "setup-interop: $("$venv/bin/rio" cogeo --version 2>&1 | head -1); $("$venv/bin/python" -c "import xarray, zarr; print('xarray', xarray.__version__, 'zarr', zarr.__version__)")" >&2
fi

# Python icechunk (2.3 needs Python >= 3.12): its own venv, from pyenv's 3.12.
ice_venv=${STACFORGE_ICECHUNK_VENV:-.venv-icechunk}
ice_req=scripts/icechunk-requirements.txt
if ! { [ -x "$ice_venv/bin/python" ] && cmp -s "$ice_req" "$ice_venv/.requirements"; }; then
  python312=""
  for candidate in "${PYTHON312:-}" "$HOME"/.pyenv/versions/3.12*/bin/python3.12 /usr/bin/python3.12; do
    if [ -n "$candidate" ] && [ -x "$candidate" ]; then python312=$candidate; break; fi
  done
  if [ -z "$python312" ]; then
    echo "setup-interop: no Python 3.12 (pyenv's versions, /usr/bin or \$PYTHON312): the Icechunk interop tests will say so and fail" >&2
  else
    "$python312" -m venv "$ice_venv"
    "$ice_venv/bin/pip" install -q --disable-pip-version-check -r "$ice_req"
    cp "$ice_req" "$ice_venv/.requirements"
    echo "setup-interop: $("$ice_venv/bin/python" -c "import icechunk, xarray; print('icechunk', icechunk.__version__, 'xarray', xarray.__version__)")" >&2
  fi
fi
