"""Checks that Zarr stores read by xarray equal a NetCDF file read by xarray.

usage: xarray_equal.py [--decoded] REFERENCE.nc STORE [STORE ...]

Values, coordinates, decoded times, variable and global attributes must be
identical (xarray.testing.assert_identical), and so must each variable's
dtype after CF decoding and, unless --decoded (the store was written with
the packing applied), before it. The store's own `stacforge` record of its
sources is the one attribute the reference cannot have.
"""
import sys

import xarray as xr

args = sys.argv[1:]
decoded = "--decoded" in args
args = [a for a in args if a != "--decoded"]
reference = xr.open_dataset(args[0])
for store in args[1:]:
    ds = xr.open_zarr(store, consolidated=True).load()
    record = ds.attrs.pop("stacforge")
    assert record["sources"], "the store records no sources"
    xr.testing.assert_identical(reference, ds)
    for name in reference.variables:
        assert reference[name].dtype == ds[name].dtype, (name, reference[name].dtype, ds[name].dtype)
        if not decoded:
            assert reference[name].encoding.get("dtype") == ds[name].encoding.get("dtype"), name
    print(f"{store}: identical to {args[0]}")
