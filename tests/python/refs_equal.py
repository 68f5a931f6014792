"""Checks that kerchunk references read through fsspec's reference://
filesystem by xarray (zarr-python) equal a NetCDF file read by xarray.

usage: refs_equal.py [--raw] REFERENCE.nc REFS [REFS ...]

REFS is a kerchunk JSON file or a Parquet reference directory. With --raw
both sides are compared as stored (no CF masking or unpacking).

Values, coordinates, decoded times and attributes must be identical
(xarray.testing.assert_identical), and each variable's dtype too. The
references' own `stacforge` record is the one attribute the file lacks.
"""
import sys

import xarray as xr

args = sys.argv[1:]
raw = "--raw" in args
args = [a for a in args if a != "--raw"]
reference = xr.open_dataset(args[0], mask_and_scale=not raw)
for refs in args[1:]:
    ds = xr.open_dataset(
        "reference://",
        engine="zarr",
        mask_and_scale=not raw,
        backend_kwargs={"consolidated": False, "storage_options": {"fo": refs}},
    ).load()
    record = ds.attrs.pop("stacforge")
    assert record["sources"], "the references record no sources"
    xr.testing.assert_identical(reference, ds)
    for name in reference.variables:
        # Same kind and size; byte order may differ (classic NetCDF is big-endian).
        a, b = reference[name].dtype, ds[name].dtype
        assert a.newbyteorder("=") == b.newbyteorder("="), (name, a, b)
    print(f"{refs}: identical to {args[0]}")
