#!/usr/bin/env bash
# Times `stacforge netcdf to-refs` against kerchunk (SingleHdf5ToZarr per
# file + MultiZarrToZarr along time, the interop venv's pinned versions) on
# the same generated workload, in one run; prints the per-file ratio, and
# what appending one file costs against building references for one file.
# Both reference sets are then opened with xarray through reference:// and
# compared. Each time is the median of three runs. A benchmark of the
# suite, not a test.
#
#   bench/refs_vs_kerchunk.sh [STACFORGE_BIN] [DAYS]
#
# The workload is the one bench/netcdf_to_zarr_vs_xarray.sh generates
# (DAYS daily NetCDF-4 files, 720 x 1440 float32, zlib); run that first.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$here/target/release/stacforge}
days=${2:-60}
venv=${STACFORGE_VENV:-$here/.venv}
py=$venv/bin/python
work=$here/bench/.work/netcdf-daily
[ "$(ls "$work/in" 2>/dev/null | wc -l)" -eq "$days" ] || { echo "no workload of $days files: run bench/netcdf_to_zarr_vs_xarray.sh $bin $days first" >&2; exit 2; }
out=$work/refs
rm -rf "$out" && mkdir -p "$out"
files=("$work"/in/*.nc)
last=${files[-1]}
rest=("${files[@]:0:${#files[@]}-1}")

# Median wall time of three runs of a command (its stdin, if any, is kept
# and replayed).
seconds() {
  local input t0 t1 times=()
  input=$(mktemp); [ -t 0 ] || cat > "$input"
  for _ in 1 2 3; do
    t0=$(date +%s.%N)
    "$@" <"$input" >/dev/null 2>"$out/last.log" || { cat "$out/last.log" >&2; exit 1; }
    t1=$(date +%s.%N)
    times+=("$(echo "$t1 - $t0" | bc -l)")
  done
  rm -f "$input"
  printf '%s\n' "${times[@]}" | sort -g | sed -n 2p
}

s_all=$(seconds "$bin" netcdf to-refs "${files[@]}" --out "$out/stacforge.json")
s_one=$(seconds "$bin" netcdf to-refs "${files[0]}" --out "$out/one.json")
"$bin" netcdf to-refs "${rest[@]}" --out "$out/base.json" 2>/dev/null
append_last() { cp "$out/base.json" "$out/grown.json" && "$bin" netcdf to-refs "$last" --out "$out/grown.json" --append; }
s_copy=$(seconds cp "$out/base.json" "$out/grown.json")
s_append=$(seconds append_last)
k_all=$(seconds "$py" - "$out/kerchunk.json" "${files[@]}" <<'PY'
import json, sys
import fsspec
from kerchunk.hdf import SingleHdf5ToZarr
from kerchunk.combine import MultiZarrToZarr
out, files = sys.argv[1], sys.argv[2:]
singles = []
for f in files:
    with fsspec.open(f) as fh:
        singles.append(SingleHdf5ToZarr(fh, f).translate())
json.dump(MultiZarrToZarr(singles, concat_dims=["time"]).translate(), open(out, "w"))
PY
)
"$py" - "$out/stacforge.json" "$out/kerchunk.json" "$out/grown.json" <<'PY'
import sys
import xarray as xr
def open_refs(path):
    ds = xr.open_dataset("reference://", engine="zarr", backend_kwargs={"consolidated": False, "storage_options": {"fo": path}})
    ds.attrs.pop("stacforge", None)
    return ds.load()
a, b, c = (open_refs(p) for p in sys.argv[1:4])
xr.testing.assert_identical(a, b)
xr.testing.assert_identical(a, c)
print("stacforge's, kerchunk's and the appended references read the same dataset")
PY
python3 - "$days" "$s_all" "$k_all" "$s_one" "$s_append" "$s_copy" <<'PY'
import sys
n = int(sys.argv[1]); s, k, one, app, copy = map(float, sys.argv[2:])
app -= copy
print(f"{n} files: stacforge {s:.2f} s ({1000*s/n:.1f} ms/file), kerchunk {k:.2f} s ({1000*k/n:.1f} ms/file)")
print(f"per-file ratio kerchunk/stacforge = {k/s:.1f}x")
print(f"references for one file: {one*1000:.0f} ms; appending one file to {n-1}: {app*1000:.0f} ms (ratio {app/one:.2f})")
PY
