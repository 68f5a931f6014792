"""The benchmark suite's workloads, generated deterministically (seeded).

Every field is smooth structure plus noise with nodata where real products
have it, never a constant array, so compressors see realistic entropy:

- W1: GeoTIFF scenes, 3 bands uint16, stripped and uncompressed, UTM 30 m,
  each a tilted acquisition footprint inside a nodata (0) frame;
- W2: daily NetCDF-4 files on a 0.25 degree global grid, float32, zlib level 4,
  chunked (1, 360, 720), with fill values over Antarctica;
- W3: NetCDF files on EPSG:3413 (NSIDC north polar stereographic) at 1 km,
  float32, fill values off the ice sheet;
- W4: many small tiled GeoTIFFs (single band uint16) for item throughput.

A workload is written once per size into bench/.work/<size>/ and reused while
its parameters and this file are unchanged.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np

# Sizes: (count, shape...) per workload.
SIZES = {
    "quick": {"W1": (2, 1024), "W2": (8,), "W3": (1, 3000, 1700), "W4": (100,)},
    "default": {"W1": (8, 4096), "W2": (60,), "W3": (4, 3000, 1700), "W4": (2000,)},
    "large": {"W1": (16, 8192), "W2": (365,), "W3": (12, 6000, 3400), "W4": (10000,)},
}


def _stamp(name: str, params) -> str:
    text = Path(__file__).read_text() + name + json.dumps(params)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def ensure(root: Path, name: str, params) -> Path:
    """The workload's folder, generated first if missing or stale."""
    folder = root / name
    stamp = folder / ".stamp"
    want = _stamp(name, params)
    if stamp.exists() and stamp.read_text() == want:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "in").mkdir(parents=True)
    print(f"generating {name} {params} into {folder}", flush=True)
    GENERATORS[name](folder / "in", *params)
    stamp.write_text(want)
    return folder


def inputs(folder: Path) -> list[Path]:
    return sorted(p for p in (folder / "in").iterdir() if not p.name.startswith("."))


def _smooth(rng, shape, scales, dtype="f4"):
    """A smooth random field: sums of waves at the given scales (pixels)."""
    h, w = shape
    y = np.arange(h, dtype=dtype)[:, None]
    x = np.arange(w, dtype=dtype)[None, :]
    field = np.zeros(shape, dtype=dtype)
    for scale in scales:
        for _ in range(3):
            a, b = rng.uniform(0, 2 * np.pi, 2)
            kx, ky = rng.normal(0, 2 * np.pi / scale, 2)
            field += np.sin(kx * x + a).astype(dtype) * np.cos(ky * y + b).astype(dtype) * (scale / scales[0]) ** 0.5
    return field


def w1_scenes(out: Path, count: int, size: int) -> None:
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(1)
    for i in range(count):
        zone = 32 + i % 4
        x0, y0 = 300000 + 15000 * i, 5200000 - 9000 * i
        # The acquisition footprint: a rectangle tilted by 12 degrees, inset
        # from the frame, as in Landsat scenes; outside it is nodata (0).
        yy, xx = np.mgrid[0:size, 0:size].astype("f4")
        c, s = np.cos(np.deg2rad(12)), np.sin(np.deg2rad(12))
        u = (xx - size / 2) * c + (yy - size / 2) * s
        v = -(xx - size / 2) * s + (yy - size / 2) * c
        inside = (np.abs(u) < size * 0.40) & (np.abs(v) < size * 0.42)
        del yy, xx, u, v
        terrain = _smooth(rng, (size, size), [size / 2, size / 8, size / 40])
        profile = {
            "driver": "GTiff", "width": size, "height": size, "count": 3, "dtype": "uint16",
            "crs": f"EPSG:326{zone:02d}", "transform": from_origin(x0, y0, 30, 30), "nodata": 0,
            "tiled": False, "compress": None, "interleave": "band",
        }
        with rasterio.open(out / f"scene_{i:02d}.tif", "w", **profile) as dst:
            for band in range(3):
                surface = _smooth(rng, (size, size), [size / 3, size / 25, size / 120])
                value = 9000 + 2500 * (band + 1) * 0.4 * terrain + 1200 * surface
                value += rng.normal(0, 60, value.shape).astype("f4")
                data = np.clip(value, 1, 65535).astype("uint16")
                data[~inside] = 0
                dst.write(data, band + 1)
            dst.update_tags(TIFFTAG_DATETIME=f"2024:06:{1 + i:02d} 10:30:00")


def w2_daily(out: Path, days: int) -> None:
    import netCDF4

    lat = np.arange(-89.875, 90, 0.25, dtype="f4")
    lon = np.arange(-179.875, 180, 0.25, dtype="f4")
    rng = np.random.default_rng(0)
    la, lo = np.meshgrid(np.deg2rad(lat), np.deg2rad(lon), indexing="ij")
    base = 14 + 14 * np.cos(la) ** 2 + 1.5 * np.sin(3 * lo) * np.cos(2 * la)
    for day in range(days):
        with netCDF4.Dataset(out / f"sst.{day:04d}.nc", "w", format="NETCDF4") as nc:
            nc.createDimension("time", None)
            nc.createDimension("lat", lat.size)
            nc.createDimension("lon", lon.size)
            t = nc.createVariable("time", "f8", ("time",))
            t.units, t.calendar, t.standard_name = "days since 2000-01-01", "standard", "time"
            t[:] = [day]
            y = nc.createVariable("lat", "f4", ("lat",))
            y.units, y.standard_name = "degrees_north", "latitude"
            y[:] = lat
            x = nc.createVariable("lon", "f4", ("lon",))
            x.units, x.standard_name = "degrees_east", "longitude"
            x[:] = lon
            v = nc.createVariable("sst", "f4", ("time", "lat", "lon"), zlib=True, complevel=4,
                                  chunksizes=(1, 360, 720), fill_value=np.float32(-999))
            v.units, v.long_name = "degC", "sea surface temperature"
            eddies = 0.6 * np.sin(40 * lo + 0.3 * day) * np.cos(35 * la - 0.2 * day)
            field = np.round(base + eddies + rng.normal(0, 0.05, base.shape), 2).astype("f4")
            field[:40, :] = -999  # Antarctica
            v[0] = field


def w3_polar(out: Path, count: int, rows: int, cols: int) -> None:
    import netCDF4
    from rasterio.crs import CRS

    wkt = CRS.from_epsg(3413).to_wkt()
    rng = np.random.default_rng(3)
    res = 1000.0 * 3000 / rows
    x = -850000 + res * (np.arange(cols) + 0.5)
    y = -400000 - res * (np.arange(rows) + 0.5)
    X, Y = np.meshgrid(x, y)
    # An ice sheet: an ellipse around Greenland's centre in EPSG:3413.
    sheet = ((X - 0) / 700e3) ** 2 + ((Y + 1900e3) / 1300e3) ** 2 < 1
    for i in range(count):
        with netCDF4.Dataset(out / f"ice_{i:02d}.nc", "w", format="NETCDF4") as nc:
            nc.createDimension("y", rows)
            nc.createDimension("x", cols)
            crs = nc.createVariable("crs", "i4")
            crs.grid_mapping_name = "polar_stereographic"
            crs.straight_vertical_longitude_from_pole = -45.0
            crs.latitude_of_projection_origin = 90.0
            crs.standard_parallel = 70.0
            crs.false_easting = 0.0
            crs.false_northing = 0.0
            crs.semi_major_axis = 6378137.0
            crs.inverse_flattening = 298.257223563
            crs.crs_wkt = wkt
            xv = nc.createVariable("x", "f8", ("x",))
            xv.units, xv.standard_name = "m", "projection_x_coordinate"
            xv[:] = x
            yv = nc.createVariable("y", "f8", ("y",))
            yv.units, yv.standard_name = "m", "projection_y_coordinate"
            yv[:] = y
            v = nc.createVariable("thickness", "f4", ("y", "x"), zlib=True, complevel=4,
                                  fill_value=np.float32(-9999))
            v.units, v.long_name, v.grid_mapping = "m", "ice thickness", "crs"
            dome = np.clip(1 - ((X / 700e3) ** 2 + ((Y + 1900e3) / 1300e3) ** 2), 0, None) ** 0.5
            field = 3000 * dome + 80 * _smooth(rng, (rows, cols), [rows / 6, rows / 40], dtype="f8")
            field += rng.normal(0, 5, field.shape)
            field = field.astype("f4")
            field[~sheet] = -9999
            v[:] = field


def w4_small(out: Path, count: int) -> None:
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(4)
    size = 256
    base = _smooth(rng, (size, size), [size / 2, size / 10])
    for i in range(count):
        zone = 10 + i % 50
        field = 2000 + 400 * np.roll(base, i, axis=1) + rng.normal(0, 20, base.shape)
        data = np.clip(field, 1, 65535).astype("uint16")
        data[:, : i % 17] = 0
        profile = {
            "driver": "GTiff", "width": size, "height": size, "count": 1, "dtype": "uint16",
            "crs": f"EPSG:326{zone:02d}", "transform": from_origin(400000 + 10 * i, 5000000, 10, 10),
            "nodata": 0, "tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate",
        }
        with rasterio.open(out / f"tile_{i:05d}.tif", "w", **profile) as dst:
            dst.write(data, 1)
            dst.update_tags(TIFFTAG_DATETIME=f"2023:{1 + i % 12:02d}:{1 + i % 28:02d} 12:00:00")


GENERATORS = {"W1": w1_scenes, "W2": w2_daily, "W3": w3_polar, "W4": w4_small}
