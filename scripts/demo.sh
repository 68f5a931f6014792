#!/usr/bin/env bash
# `make demo`: the whole path a dataset maintainer takes, through
# `stacforge run`, on the bundled fixtures, into one validated catalog:
#   - the GeoTIFF fixtures to COGs (one item each),
#   - a MODIS HDF-EOS2 granule to COGs (one item),
#   - a NetCDF series (OISST layout, three days) to one Zarr store and to
#     kerchunk references (one item each), and kept as a versioned Icechunk
#     repository (two days written, the third appended: one commit each),
#   - CMIP6 files in their ESGF layout (packages/cmip6/fixtures) to one Zarr
#     store per dataset (three datasets, one of two files), and one of them
#     cut to a box and a year,
#   - the GeoTIFFs again: a dry run, then a re-run that skips what is done,
# then a root catalog over the collections, COG and STAC validation,
# and (when the interop venv is there) xarray reading the store and the
# references back.
set -euo pipefail
BIN=${BIN:-target/debug/stacforge}
OUT=${OUT:-demo-out}
SCHEMAS=${SCHEMAS:-}
VENV=${VENV:-.venv}
ICECHUNK_VENV=${ICECHUNK_VENV:-.venv-icechunk}

rm -rf "$OUT"
"$BIN" list
"$BIN" run geotiff fixtures/geotiff/*.tif --out "$OUT/geotiff"
# Running again does nothing that is done already (the ledger in
# $OUT/geotiff/.stacforge/); a dry run says what a run would do.
"$BIN" run geotiff fixtures/geotiff/*.tif --out "$OUT/geotiff" --dry-run
"$BIN" run geotiff fixtures/geotiff/*.tif --out "$OUT/geotiff"
"$BIN" run modis fixtures/modis/MOD10A1.A2022033.h09v05.061.2022042050729.hdf --out "$OUT/modis"
"$BIN" run netcdf-zarr fixtures/netcdf/oisst-avhrr-v02r01.*.nc --out "$OUT/oisst-zarr" \
    --collection-id oisst-zarr --item-id oisst
"$BIN" run netcdf-refs fixtures/netcdf/oisst-avhrr-v02r01.*.nc --out "$OUT/oisst-refs" \
    --collection-id oisst-refs --item-id oisst
# The same series as an Icechunk repository: each write and append one atomic
# commit recording its sources; the item points at the snapshot it describes.
days=(fixtures/netcdf/oisst-avhrr-v02r01.*.nc)
"$BIN" netcdf to-zarr "${days[@]:0:2}" --out "$OUT/oisst.icechunk" --format icechunk --tag first-two-days
"$BIN" netcdf to-zarr "${days[2]}" --out "$OUT/oisst.icechunk" --format icechunk --append \
    --catalog "$OUT/oisst-icechunk" --collection-id oisst-icechunk --item-id oisst
"$BIN" history "$OUT/oisst.icechunk"
"$BIN" run cmip6 $(find packages/cmip6/fixtures -name '*.nc' -not -path '*/bad/*' | sort) \
    --out "$OUT/cmip6"
"$BIN" run cmip6 packages/cmip6/fixtures/CMIP/TEST/TEST-ESM/historical/r1i1p1f1/Amon/tas/gn/v20250101/*.nc \
    --out "$OUT/cmip6-subset" --collection-id cmip6-subset --bbox=-180,-30,180,90 --time 1851-01-01/1851-12-31
"$BIN" catalog "$OUT" --id stacforge-demo --description "stacforge demo: COGs, a Zarr store, references and an Icechunk repository from the bundled fixtures"
"$BIN" validate "$OUT"/geotiff/items/*/*.tif "$OUT"/modis/items/*/*.tif
if [ -n "$SCHEMAS" ]; then
    "$BIN" validate --schemas "$SCHEMAS" "$OUT"
else
    echo "(STAC schema check skipped: set STACFORGE_SCHEMAS to a folder of the official schemas)"
fi
store="$OUT/oisst-zarr/items/oisst/oisst.zarr"
refs="$OUT/oisst-refs/items/oisst/oisst.refs.json"
if [ -x "$VENV/bin/python" ]; then
    "$VENV/bin/python" - "$store" "$refs" <<'PY'
import sys
import numpy as np
import xarray as xr
store, refs = sys.argv[1:]
z = xr.open_zarr(store, consolidated=True)
r = xr.open_dataset("reference://", engine="zarr",
                    backend_kwargs={"consolidated": False, "storage_options": {"fo": refs}})
assert np.array_equal(z.sst.values, r.sst.values, equal_nan=True), "store and references differ"
print(f"xarray reads {store}: sst {dict(z.sst.sizes)}, {str(z.time.values[0])[:10]} .. {str(z.time.values[-1])[:10]}")
print(f"xarray reads {refs} (virtual, data stays in fixtures/netcdf/): sst {dict(r.sst.sizes)}")
PY
fi
if [ -x "$ICECHUNK_VENV/bin/python" ]; then
    "$ICECHUNK_VENV/bin/python" - "$OUT/oisst.icechunk" <<'PY' 2>/dev/null
import sys
import icechunk
import xarray as xr
repo = icechunk.Repository.open(icechunk.local_filesystem_storage(sys.argv[1]))
now = xr.open_zarr(repo.readonly_session(branch="main").store, consolidated=False)
then = xr.open_zarr(repo.readonly_session(tag="first-two-days").store, consolidated=False)
print(f"Python icechunk reads {sys.argv[1]}: {now.sizes['time']} days now, {then.sizes['time']} at tag first-two-days")
PY
fi
cog=$(ls "$OUT"/geotiff/items/dem_utm33/*.tif | head -1)
cat <<MSG

Done: one STAC catalog at $OUT/catalog.json (7 collections), validated.
  Run reports: $OUT/*/run-report.json (what each run wrote, skipped, failed and why)
  COGs:        $OUT/geotiff/items/*/*.tif, $OUT/modis/items/*/*.tif
               titiler: uvicorn titiler.application.main:app, then
               http://127.0.0.1:8000/cog/WebMercatorQuad/tilejson.json?url=$PWD/$cog
  Zarr store:  $store
               xarray: xr.open_zarr("$store", consolidated=True)
  References:  $refs
               xarray: xr.open_dataset("reference://", engine="zarr", backend_kwargs={"consolidated": False, "storage_options": {"fo": "$refs"}})
  Icechunk:    $OUT/oisst.icechunk (3 commits; stacforge history "$OUT/oisst.icechunk")
               Python: icechunk.Repository.open(icechunk.local_filesystem_storage("$OUT/oisst.icechunk")).readonly_session(tag="first-two-days").store
  CMIP6:       $OUT/cmip6/items/CMIP6.*/CMIP6.*.zarr (one store per dataset; items with the CMIP6 fields)
               $OUT/cmip6-subset: the tas dataset cut to 30°S-90°N and 1851
MSG
