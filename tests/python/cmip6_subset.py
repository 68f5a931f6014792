"""Checks that a subset written by stacforge (`--bbox`, `--time`,
`--level`) equals xarray's own selection of the same bounds on the source
files (open_mfdataset, cftime).

usage: cmip6_subset.py STORE BBOX|- TIME|- LEVEL|- FILE [FILE ...]

BBOX is W,S,E,N (degrees, −180–180 or 0–360); TIME is START/END
(YYYY-MM-DD, END inclusive of its day, in the data's calendar); LEVEL is
LO/HI. The selection keeps the cells whose centres are inside (on a
curvilinear grid, the smallest index box holding them), the time steps
from START 00:00 to the end of END, the levels between LO and HI.
"""
import sys

import cftime
import numpy as np
import xarray as xr

store, bbox, time, level, files = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
kw = {"decode_times": xr.coders.CFDatetimeCoder(use_cftime=True), "mask_and_scale": False}
mine = xr.open_zarr(store, consolidated=False, chunks=None, **kw).load()
mine.attrs.pop("stacforge", None)
src = xr.open_mfdataset(
    files, combine="by_coords", data_vars="minimal", coords="minimal", compat="override",
    chunks=-1, **kw,
).load()


def indices(mask):
    where = np.flatnonzero(mask)
    assert where.size, "nothing selected"
    return slice(int(where[0]), int(where[-1]) + 1)


sel = {}
if time != "-":
    start, end = time.split("/")
    cal = src.time.encoding.get("calendar", "standard")
    y0, m0, d0 = map(int, start.split("-"))
    y1, m1, d1 = map(int, end.split("-"))
    t0 = cftime.datetime(y0, m0, d0, calendar=cal)
    t1 = cftime.datetime(y1, m1, d1, 23, 59, 59, 999999, calendar=cal)
    sel["time"] = indices((src.time.values >= t0) & (src.time.values <= t1))
if level != "-":
    lo, hi = sorted(map(float, level.split("/")))
    z = next(c for c in src.coords if src[c].attrs.get("axis") == "Z" or "positive" in src[c].attrs)
    sel[z] = indices((src[z].values >= lo) & (src[z].values <= hi))
if bbox != "-":
    w, s, e, n = map(float, bbox.split(","))
    lat = next(v for v in src.variables if src[v].attrs.get("standard_name") == "latitude")
    lon = next(v for v in src.variables if src[v].attrs.get("standard_name") == "longitude")
    if src[lat].ndim == 1:
        x = src[lon].values
        if (x > 180).any():
            w, e = w % 360, (e % 360 or 360) if e - w < 360 else 360
        sel[src[lon].dims[0]] = indices((x >= w) & (x <= e))
        y = src[lat].values
        sel[src[lat].dims[0]] = indices((y >= s) & (y <= n))
    else:
        y, x = src[lat].values, src[lon].values
        valid = (np.abs(y) <= 90) & (np.abs(x) <= 720)
        x = (x + 180) % 360 - 180
        ww, ee = (w + 180) % 360 - 180, (e + 180) % 360 - 180
        inx = (x >= ww) & (x <= ee) if ww <= ee else (x >= ww) | (x <= ee)
        inside = valid & inx & (y >= s) & (y <= n)
        rows, cols = src[lat].dims
        sel[rows] = indices(inside.any(axis=1))
        sel[cols] = indices(inside.any(axis=0))
expected = src.isel(sel)
xr.testing.assert_identical(mine, expected)
print(f"{store}: identical to xarray's selection {sel} of {len(files)} file(s)")
