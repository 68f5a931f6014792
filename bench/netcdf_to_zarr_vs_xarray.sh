#!/usr/bin/env bash
# Times `stacforge netcdf to-zarr` against xarray `open_mfdataset(...).to_zarr()`
# (dask, the interop venv's pinned versions) on the same generated workload,
# in one run, and reports the ratio of wall times and both peak RSS
# (GNU time). Both write Zarr v3 with zstd level 3 and the same chunks
# (one day x 720 x 1440); xarray then checks the two stores hold the same
# values. Each figure is the median of three runs. A benchmark of the
# suite, not a test.
#
#   bench/netcdf_to_zarr_vs_xarray.sh [STACFORGE_BIN] [DAYS]
#
# The workload: DAYS (default 60) daily NetCDF-4 files, 720 x 1440 float32
# (a 0.25 degree global grid, values to 0.01 degC), zlib level 4, written once into
# bench/.work/netcdf-daily (kept for re-runs; delete it to regenerate).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$here/target/release/stacforge}
days=${2:-60}
venv=${STACFORGE_VENV:-$here/.venv}
py=$venv/bin/python
[ -x "$py" ] || { echo "needs the interop venv: scripts/setup-interop.sh" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "needs GNU time (apt-get install time)" >&2; exit 2; }
work=$here/bench/.work/netcdf-daily
mkdir -p "$work/in"
stamp=$(sha256sum "$0" | cut -c1-16)
if [ "$(ls "$work/in" | wc -l)" -ne "$days" ] || [ "$(cat "$work/in.stamp" 2>/dev/null)" != "$stamp" ]; then
  rm -f "$work"/in/*.nc
  "$py" - "$work/in" "$days" <<'PY'
import sys
import numpy as np
import netCDF4

out, days = sys.argv[1], int(sys.argv[2])
lat = np.arange(-89.875, 90, 0.25, dtype="f4")
lon = np.arange(-179.875, 180, 0.25, dtype="f4")
rng = np.random.default_rng(0)
# A plausible SST field: a meridional gradient, basin-scale and mesoscale
# waves drifting day by day, weather-scale noise, and values quantised to
# 0.01 degC as gridded SST products store them.
la, lo = np.meshgrid(np.deg2rad(lat), np.deg2rad(lon), indexing="ij")
base = 14 + 14 * np.cos(la) ** 2 + 1.5 * np.sin(3 * lo) * np.cos(2 * la)
for day in range(days):
    with netCDF4.Dataset(f"{out}/sst.{day:04d}.nc", "w", format="NETCDF4") as nc:
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
                              chunksizes=(1, 720, 1440), fill_value=np.float32(-999))
        v.units, v.long_name = "degC", "sea surface temperature"
        eddies = 0.6 * np.sin(40 * lo + 0.3 * day) * np.cos(35 * la - 0.2 * day)
        field = np.round(base + eddies + rng.normal(0, 0.05, base.shape), 2).astype("f4")
        field[:40, :] = -999  # Antarctica: fill values
        v[0] = field
PY
  echo "$stamp" > "$work/in.stamp"
fi
echo "workload: $days files, $(du -sh "$work/in" | cut -f1) on disk; $("$bin" --version); $("$py" -c 'import xarray, dask, zarr; print(f"xarray {xarray.__version__}, dask {dask.__version__}, zarr {zarr.__version__}")')"

measure() { # name, command...: prints "seconds peak_kb", the median of three runs
  local name=$1 input; shift
  input=$(mktemp); [ -t 0 ] || cat > "$input"
  for run in 1 2 3; do
    rm -rf "$work/$name.zarr"
    sync
    /usr/bin/time -f "%e %M" -o "$work/$name.time.$run" "$@" <"$input" >/dev/null 2>"$work/$name.log" || { cat "$work/$name.log" >&2; exit 1; }
  done
  rm -f "$input"
  cat "$work/$name.time".{1,2,3} | sort -g | sed -n 2p
}
read -r s_sec s_kb < <(measure stacforge "$bin" netcdf to-zarr "$work"/in/*.nc --out "$work/stacforge.zarr" --chunks time=1 --compression zstd:3)
read -r x_sec x_kb < <(measure xarray "$py" - "$work" <<'PY'
import glob, sys
import xarray as xr
from zarr.codecs import ZstdCodec
work = sys.argv[1]
ds = xr.open_mfdataset(sorted(glob.glob(f"{work}/in/*.nc")), combine="nested", concat_dim="time",
                       chunks={"time": 1})
enc = {v: {"compressors": [ZstdCodec(level=3)]} for v in ds.variables}
ds.to_zarr(f"{work}/xarray.zarr", zarr_format=3, consolidated=True, encoding=enc)
PY
)
"$py" - "$work" <<'PY'
import sys
import xarray as xr
a = xr.open_zarr(f"{sys.argv[1]}/stacforge.zarr").load()
b = xr.open_zarr(f"{sys.argv[1]}/xarray.zarr").load()
a.attrs.pop("stacforge")
xr.testing.assert_identical(a, b)
print("same values, coordinates and attributes in both stores")
PY
python3 - "$s_sec" "$s_kb" "$x_sec" "$x_kb" <<'PY'
import sys
s, sk, x, xk = float(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
print(f"stacforge: {s:.2f} s, peak RSS {sk/1024:.0f} MiB")
print(f"xarray+dask: {x:.2f} s, peak RSS {xk/1024:.0f} MiB")
print(f"speed ratio xarray/stacforge = {x/s:.2f}x; memory ratio stacforge/xarray = {sk/xk:.2f}")
PY
