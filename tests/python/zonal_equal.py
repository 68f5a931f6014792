"""Checks stacforge's zonal statistics against xarray + GDAL's rasterizer.

usage: zonal_equal.py STORE POLYGONS FIELD TABLE.csv TABLE.parquet [--all-touched]

For every polygon of POLYGONS (named by FIELD), a mask of the store's grid
is burnt with GDAL's rasterizer (rasterio.features.rasterize, the same
all-touched rule), from a transform this script derives from the store's own
latitude/longitude coordinates; xarray (CF-decoded values) averages every
data variable over it per time step. Mean, min, max and count must equal
the CSV's and the Parquet table's rows (means to 1e-9, relative: the order
of summation differs).
"""
import json
import sys

import numpy as np
import pandas as pd
import rasterio.features
import xarray as xr
from affine import Affine

store, polygons, field, csv, parquet = sys.argv[1:6]
all_touched = "--all-touched" in sys.argv
ds = xr.open_zarr(store, consolidated=True)
lat, lon = ds["lat"].values, ds["lon"].values
dx, dy = float(lon[1] - lon[0]), float(lat[1] - lat[0])
north_up = dy < 0
top = lat[0] if north_up else lat[-1]
transform = Affine(dx, 0, float(lon[0]) - dx / 2, 0, -abs(dy), float(top) + abs(dy) / 2)
features = json.load(open(polygons))["features"]
tables = {"csv": pd.read_csv(csv), "parquet": pd.read_parquet(parquet)}
checked = 0
for feature in features:
    zone = feature["properties"][field]
    mask = rasterio.features.rasterize(
        [(feature["geometry"], 1)], out_shape=(lat.size, lon.size), transform=transform,
        all_touched=all_touched, fill=0, dtype="uint8",
    ).astype(bool)
    if not north_up:
        mask = mask[::-1, :]
    mask = xr.DataArray(mask, dims=("lat", "lon"))
    for name, var in ds.data_vars.items():
        if var.dims[-2:] != ("lat", "lon"):
            continue
        inside = var.where(mask)
        expected = {
            "mean": inside.mean(("lat", "lon")).values,
            "min": inside.min(("lat", "lon")).values,
            "max": inside.max(("lat", "lon")).values,
            "count": inside.count(("lat", "lon")).values,
        }
        for kind, table in tables.items():
            rows = table[(table["zone"] == zone) & (table["variable"] == name)]
            assert len(rows) == var.sizes["time"], (kind, zone, name, len(rows))
            for stat in ["mean", "min", "max"]:
                np.testing.assert_allclose(rows[stat].values, expected[stat], rtol=1e-9, err_msg=f"{kind} {zone} {name} {stat}")
            np.testing.assert_array_equal(rows["count"].values, expected["count"], err_msg=f"{kind} {zone} {name} count")
            times = pd.to_datetime(rows["time"].values).tz_localize(None)
            np.testing.assert_array_equal(times.values, var["time"].values.astype("datetime64[ns]"))
            checked += len(rows)
assert checked > 0, "nothing compared"
print(f"{checked} rows of {csv} and {parquet} equal xarray + GDAL's rasterizer over {polygons}")
