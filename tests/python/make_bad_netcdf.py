"""Writes a hostile variant of a real NetCDF file, for the data-safety tests.

    make_bad_netcdf.py KIND SRC DST

KIND:
  reverse-lon   longitudes in reverse order (the data as stored)
  shift-lat     latitudes shifted by half a cell
  nan-lat       one latitude NaN
  later         times moved after the source's last one (a continuation)
  gregorian     calendar "gregorian" (the same CF calendar as "standard")
  midnight      time units with an explicit " 00:00:00" (the same epoch)
  classic       the same file rewritten as NetCDF-3 classic (CDF-1)
  classic-fixed a NetCDF-3 classic file without a record dimension (SRC ignored)
  labels        a char variable of station names added, `station_name(station,
                name_strlen)`, as CF discrete-sampling files carry (not hostile:
                bytes that must come back as they are)

The variants are edited with netCDF4-python: the source files were written
by HDF5 1.14, which Debian's HDF5 1.10 should not modify.
"""
import shutil
import sys

import netCDF4
import numpy as np

kind, src, dst = sys.argv[1:4]

if kind == "classic-fixed":
    with netCDF4.Dataset(dst, "w", format="NETCDF3_CLASSIC") as d:
        d.createDimension("lat", 40)
        d.createDimension("lon", 60)
        lat = d.createVariable("lat", "f4", ("lat",))
        lat.units = "degrees_north"
        lat[:] = np.linspace(-39, 39, 40)
        lon = d.createVariable("lon", "f4", ("lon",))
        lon.units = "degrees_east"
        lon[:] = np.linspace(-59, 59, 60)
        v = d.createVariable("elevation", "f4", ("lat", "lon"))
        v.units = "m"
        v[:] = np.arange(40 * 60, dtype="f4").reshape(40, 60) + 1.0
    sys.exit(0)

if kind == "classic":
    with netCDF4.Dataset(src) as s, netCDF4.Dataset(dst, "w", format="NETCDF3_CLASSIC") as d:
        d.setncatts({k: s.getncattr(k) for k in s.ncattrs()})
        for name, dim in s.dimensions.items():
            d.createDimension(name, None if dim.isunlimited() else len(dim))
        for name, var in s.variables.items():
            attrs = {k: var.getncattr(k) for k in var.ncattrs()}
            fill = attrs.pop("_FillValue", None)
            out = d.createVariable(name, var.dtype, var.dimensions, fill_value=fill)
            out.setncatts(attrs)
            var.set_auto_maskandscale(False)
            out.set_auto_maskandscale(False)
            out[:] = var[:]
    sys.exit(0)

shutil.copyfile(src, dst)
if kind == "labels":
    with netCDF4.Dataset(dst, "a") as d:
        d.createDimension("station", 3)
        d.createDimension("name_strlen", 8)
        v = d.createVariable("station_name", "S1", ("station", "name_strlen"))
        v.long_name = "station name"
        v.cf_role = "timeseries_id"
        names = np.array(["Alert", "Eureka", "Nord"], dtype="S8")
        v[:] = netCDF4.stringtochar(names)
    sys.exit(0)
with netCDF4.Dataset(dst, "a") as d:
    for name in ("lat", "lon", "time"):
        d[name].set_auto_maskandscale(False)
    if kind == "reverse-lon":
        d["lon"][:] = d["lon"][:][::-1]
    elif kind == "shift-lat":
        lat = d["lat"][:]
        d["lat"][:] = lat + (lat[1] - lat[0]) / 2
    elif kind == "nan-lat":
        lat = d["lat"][:].copy()
        lat[3] = np.nan
        d["lat"][:] = lat
    elif kind == "later":
        t = d["time"][:]
        d["time"][:] = t + (t[-1] - t[0]) + (t[1] - t[0])
    elif kind == "gregorian":
        d["time"].calendar = "gregorian"
    elif kind == "midnight":
        d["time"].units = d["time"].units + " 00:00:00"
    else:
        sys.exit(f"unknown kind {kind}")
