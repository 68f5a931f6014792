"""Checks how float32-packed variables (int16 with float32 scale_factor and
add_offset, as OISST stores them) come back from stacforge's outputs.

usage: packed_float32.py SRC STORE REFS DECODED_STORE VAR[,VAR...]

- STORE (to-zarr) and REFS (to-refs) keep the packing: their scale_factor
  and add_offset are the source's float32 values exactly, so the values
  xarray decodes, cast to the source's float32, are bit-identical to its
  reading of the source.
- DECODED_STORE (to-zarr --decode) holds float32 values bit-identical to
  xarray's reading of the source, with the source's dtype.
- The limit, checked so that a change upstream is noticed: Zarr and
  kerchunk attributes are JSON, whose numbers have no width, and xarray
  decodes a JSON scale_factor as float64, for its own to_zarr copy of the
  source as well as for stacforge's.
"""
import sys
import tempfile
import warnings

import numpy as np
import xarray as xr

warnings.simplefilter("ignore")
src, store, refs, decoded, names = sys.argv[1:6]
names = names.split(",")
reference = xr.open_dataset(src)
outputs = {
    "store": xr.open_zarr(store, consolidated=True),
    "refs": xr.open_dataset(
        "reference://",
        engine="zarr",
        backend_kwargs={"consolidated": False, "storage_options": {"fo": refs}},
    ),
}
raw = xr.open_dataset(src, decode_cf=False)
for name in names:
    a = reference[name]
    assert a.dtype == np.float32, (name, a.dtype)
    for key in ("scale_factor", "add_offset"):
        assert raw[name].attrs[key].dtype == np.float32, (name, key)
    for what, ds in outputs.items():
        b = ds[name]
        for key in ("scale_factor", "add_offset"):
            assert b.encoding[key] == float(raw[name].attrs[key]), (what, name, key, b.encoding[key])
        assert np.array_equal(a.values, b.values.astype(np.float32), equal_nan=True), (what, name)
    d = xr.open_zarr(decoded, consolidated=True)[name]
    assert d.dtype == a.dtype, (name, d.dtype)
    assert np.array_equal(a.values, d.values, equal_nan=True), name
    print(f"{name}: packing exact, float32 values identical; --decode float32 identical")

with tempfile.TemporaryDirectory() as tmp:
    reference[names].to_zarr(f"{tmp}/own.zarr", zarr_format=3)
    own = xr.open_zarr(f"{tmp}/own.zarr")
    assert own[names[0]].dtype == np.float64, own[names[0]].dtype
    print("xarray's own Zarr copy decodes to float64 too (JSON attributes have no float32)")
