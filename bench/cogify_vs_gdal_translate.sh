#!/usr/bin/env bash
# Times `stacforge cogify` against `gdal_translate -of COG` with the same
# creation options, alternating, in one run (hyperfine), and checks that both
# outputs hold the same pixels (band checksums, through Debian's python3-gdal;
# GDAL_PYTHON names another interpreter). A seed for the benchmark suite, not a test.
#
#   bench/cogify_vs_gdal_translate.sh [STACFORGE_BIN] [FILE...]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$here/target/release/stacforge}
shift || true
data=${STACFORGE_TEST_DATA:-$here/../shared/data}
files=("$@")
[ ${#files[@]} -gt 0 ] || files=("$data/geotiff/non_cog.tif" "$data/geotiff/RGB.byte.tif")
command -v hyperfine >/dev/null || { echo "needs hyperfine (apt-get install hyperfine)" >&2; exit 2; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
co=(-co COMPRESS=DEFLATE -co PREDICTOR=YES -co BLOCKSIZE=512 -co OVERVIEW_RESAMPLING=NEAREST
    -co NUM_THREADS=ALL_CPUS -co BIGTIFF=IF_SAFER)
echo "stacforge: $bin ($("$bin" --version)); $(gdal_translate --version)"
for f in "${files[@]}"; do
  name=$(basename "$f" .tif)
  hyperfine -N --warmup 2 --runs 15 --export-json "$out/$name.json" \
    -n stacforge "$bin cogify $f $out/$name.stacforge.tif" \
    -n gdal_translate "gdal_translate -q -of COG ${co[*]} $f $out/$name.gdal.tif" >/dev/null
  python3 - "$out/$name.json" "$name" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
s, g = r["stacforge"], r["gdal_translate"]
print(f"{sys.argv[2]}: stacforge median {s['median']*1000:.1f} ms (min {s['min']*1000:.1f}, max {s['max']*1000:.1f}); "
      f"gdal_translate median {g['median']*1000:.1f} ms (min {g['min']*1000:.1f}, max {g['max']*1000:.1f}); "
      f"ratio gdal_translate/stacforge = {g['median']/s['median']:.2f}")
PY
  cmp_out=$("$bin" info "$out/$name.stacforge.tif" --json | python3 -c "import json,sys; print(json.load(sys.stdin)['cog']['errors'])")
  [ "$cmp_out" = "[]" ] || { echo "$name: stacforge output fails the COG check: $cmp_out" >&2; exit 1; }
  gdalcompare_ok=$("${GDAL_PYTHON:-/usr/bin/python3}" - "$out/$name.stacforge.tif" "$out/$name.gdal.tif" <<'PY'

import sys
from osgeo import gdal
a, b = (gdal.Open(p) for p in sys.argv[1:3])
same = all(a.GetRasterBand(i).Checksum() == b.GetRasterBand(i).Checksum() for i in range(1, a.RasterCount + 1))
print("same pixels" if same else "DIFFERENT pixels")
PY
)
  echo "  $name: $gdalcompare_ok"
  [ "$gdalcompare_ok" = "same pixels" ] || exit 1
done
