"""Checks that a CMIP6 dataset written by stacforge (a Zarr store, or
kerchunk references read through fsspec) reads in xarray, with cftime,
exactly as xarray's open_mfdataset of its source files.

usage: cmip6_equal.py CASES.json

CASES.json lists {"output": OUTPUT, "files": [FILE, ...]} objects. OUTPUT
is a Zarr store (a directory ending in .zarr), kerchunk JSON or a
Parquet reference directory (.parq). Values, coordinates (2-D latitude and
longitude and bounds included), times with their calendar, units and
attributes must be identical, as stored (no CF masking or unpacking) and
decoded.
"""
import json
import sys

import xarray as xr


def times(**kw):
    return {"decode_times": xr.coders.CFDatetimeCoder(use_cftime=True), **kw}


def check(out, files):
    for raw in (True, False):
        compare(out, files, raw)
    print(f"{out}: identical to {len(files)} source file(s)")


def compare(out, files, raw):
    kw = times(mask_and_scale=not raw)
    if out.endswith(".zarr"):
        mine = xr.open_zarr(out, consolidated=False, chunks=None, **kw).load()
    else:
        mine = xr.open_dataset(
            "reference://",
            engine="zarr",
            backend_kwargs={"consolidated": False, "storage_options": {"fo": out}},
            **kw,
        ).load()
    mine.attrs.pop("stacforge", None)
    theirs = xr.open_mfdataset(
        files, combine="by_coords", data_vars="minimal", coords="minimal", compat="override",
        chunks=-1, **kw
    ).load()
    xr.testing.assert_identical(mine, theirs)
    for name, var in theirs.variables.items():
        assert mine[name].dtype == var.dtype, (name, mine[name].dtype, var.dtype)
        if "time" in var.dims and var.encoding.get("calendar"):
            assert mine[name].encoding.get("calendar") == var.encoding["calendar"], name


with open(sys.argv[1]) as f:
    cases = json.load(f)
assert cases, "no cases"
for case in cases:
    check(case["output"], case["files"])
