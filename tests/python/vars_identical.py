"""Checks that variables read by xarray from stores and references are
identical (values, dtype, attributes) to the source file's.

usage: vars_identical.py SRC VAR[,VAR...] OUTPUT [OUTPUT ...]

OUTPUT is a Zarr store (a directory) or kerchunk references (a .json file,
read through fsspec's reference:// filesystem).
"""
import sys

import xarray as xr

src, names, outputs = sys.argv[1], sys.argv[2].split(","), sys.argv[3:]
reference = xr.open_dataset(src)
for out in outputs:
    if out.endswith(".json"):
        ds = xr.open_dataset(
            "reference://",
            engine="zarr",
            backend_kwargs={"consolidated": False, "storage_options": {"fo": out}},
        )
    else:
        ds = xr.open_zarr(out, consolidated=True)
    for name in names:
        a, b = reference[name], ds[name]
        assert a.dtype == b.dtype, (out, name, a.dtype, b.dtype)
        xr.testing.assert_identical(a, b)
        print(f"{out}: {name} identical ({a.dtype}, {a.values.tolist()!r})")
