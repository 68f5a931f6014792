"""Checks that Zarr stores read by xarray equal a NetCDF file read by xarray.

usage: xarray_equal.py REFERENCE.nc STORE [STORE ...]

Values, coordinates, decoded times, variable and global attributes must be
identical (xarray.testing.assert_identical), and so must each variable's
dtype before and after CF decoding. The store's own `stacforge` record of
its sources is the one attribute the reference cannot have.
"""
import sys

import xarray as xr

reference = xr.open_dataset(sys.argv[1])
for store in sys.argv[2:]:
    ds = xr.open_zarr(store, consolidated=True).load()
    record = ds.attrs.pop("stacforge")
    assert record["sources"], "the store records no sources"
    xr.testing.assert_identical(reference, ds)
    for name in reference.variables:
        assert reference[name].dtype == ds[name].dtype, (name, reference[name].dtype, ds[name].dtype)
        assert reference[name].encoding.get("dtype") == ds[name].encoding.get("dtype"), name
    print(f"{store}: identical to {sys.argv[1]}")
