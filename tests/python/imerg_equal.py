"""Checks the COGs of an IMERG item against the file they were made from:
pixel (i, j) of each COG equals the source value at the transposed, flipped
index [j, nlat - 1 - i] (IMERG stores (time, lon, lat) with latitude
increasing), the grid spans -180..180 x -90..90, and the item's period is
the file's time_bnds.

    python imerg_equal.py ITEM.json SOURCE
"""

import json
import sys
from pathlib import Path

import netCDF4
import numpy as np
import rasterio

item_path, source = Path(sys.argv[1]), sys.argv[2]
item = json.loads(item_path.read_text())
with netCDF4.Dataset(source) as nc:
    g = nc.groups["Grid"] if "Grid" in nc.groups else nc
    g.set_auto_maskandscale(False)
    lat = g["lat"][:]
    assert lat[0] < lat[-1], "the fixture stores latitude increasing"
    bounds = g["time_bnds"][:]
    # IMERG's calendar is "julian"; between 1900 and 2100 its dates are
    # labelled as in the Gregorian calendar.
    times = netCDF4.num2date(bounds[0], g["time"].units, g["time"].calendar)
    start, end = (t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in times)
    assert item["properties"]["start_datetime"] == start, (item["properties"], start)
    assert item["properties"]["end_datetime"] == end, (item["properties"], end)
    assert item["bbox"] == [-180.0, -90.0, 180.0, 90.0], item["bbox"]
    checked = 0
    for key, asset in item["assets"].items():
        var = g[key]
        assert var.dimensions[-2:] == ("lon", "lat"), var.dimensions
        src = var[0]  # (lon, lat)
        with rasterio.open(item_path.parent / asset["href"].removeprefix("./")) as ds:
            cog = ds.read(1)
            assert ds.crs.to_epsg() == 4326
            assert ds.bounds == (-180.0, -90.0, 180.0, 90.0), ds.bounds
            assert ds.nodata == float(var._FillValue), (ds.nodata, var._FillValue)
        nlat = src.shape[1]
        assert cog.shape == (nlat, src.shape[0]), cog.shape
        for i, j in [(0, 0), (5, 17), (nlat - 1, src.shape[0] - 1), (44, 90)]:
            assert cog[i, j] == src[j, nlat - 1 - i], (key, i, j, cog[i, j], src[j, nlat - 1 - i])
        assert np.array_equal(cog, src.T[::-1, :]), key
        checked += 1
    assert checked == 4, checked
print(f"{item_path.name}: {checked} COGs equal the transposed, flipped source; period {start} .. {end}")
