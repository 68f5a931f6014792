"""Collections at scale: `stacforge run` over a whole collection.

- Throughput: units/s and MB/s of sources with 1 and 2 workers, against what
  users glue together for the same job (rio-cogeo's cog_translate plus
  rio-stac's create_stac_item per file, in a multiprocessing pool of as many
  processes), on the W4 workload (small tiled GeoTIFFs), as ratios.
- Memory: peak RSS of one `stacforge run` over 1,000 and over 10,000 sources
  (copies of one small GeoTIFF), which must stay flat (within 15%): the run
  streams its units and keeps no item in memory.

    bench/run --scale [--quick]

Results go to bench/.work/<size>/scale.md (and bench/SCALE.md for the
default size).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import workloads

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable
PEERS = str(HERE / "peers.py")
WHEN = "2020-01-01T00:00:00Z"


def timed(argv: list[str], env: dict | None = None, log: Path | None = None) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB, from GNU time) of one process."""
    rss = Path(str(log) + ".rss")
    start = time.perf_counter()
    with open(log, "w") as err:
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(rss), *argv],
                              stdout=subprocess.DEVNULL, stderr=err, env={**os.environ, **(env or {})})
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(argv[:5])} ...\n{log.read_text()[-3000:]}")
    return seconds, int(rss.read_text().split()[-1])


def copies(folder: Path, source: Path, count: int) -> Path:
    """`count` hard links to `source` under distinct names, and their list."""
    folder.mkdir(parents=True, exist_ok=True)
    listing = folder / f"sources-{count}.txt"
    names = []
    for i in range(count):
        path = folder / f"scene-{i:05d}.tif"
        if not path.exists():
            os.link(source, path)
        names.append(str(path))
    listing.write_text("\n".join(names) + "\n")
    return listing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test (debug builds welcome)")
    parser.add_argument("--bin", default=str(ROOT / "target/release/stacforge"))
    args = parser.parse_args()
    size = "quick" if args.quick else "default"
    work = ROOT / "bench/.work" / size
    w4 = workloads.inputs(workloads.ensure(work, "W4", workloads.SIZES[size]["W4"]))
    mb = sum(p.stat().st_size for p in w4) / 1e6
    out = work / "scale-out"
    log = work / "scale.log"
    lines = [f"# stacforge run at scale ({size} size)", ""]
    lines.append(f"Throughput: W4, {len(w4)} GeoTIFFs ({mb:.0f} MB) to COG + item each; peer: rio-cogeo "
                 "cog_translate + rio-stac create_stac_item per file in a multiprocessing pool.")
    lines += ["", "| workers | tool | seconds | units/s | MB/s | peak RSS MiB | time ratio (tool / stacforge) |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    results = {"throughput": [], "memory": []}
    listing = work / "w4-sources.txt"
    listing.write_text("\n".join(map(str, w4)) + "\n")
    for workers in (1, 2):
        shutil.rmtree(out, ignore_errors=True)
        ours = timed([args.bin, "run", "geotiff", "--sources-from", str(listing), "--out", str(out),
                      "--datetime", WHEN, "-j", str(workers)], log=log)
        shutil.rmtree(out, ignore_errors=True)
        peer = timed([PY, "-W", "ignore", PEERS, "cogeo-stac-pool", str(out), *map(str, w4)],
                     env={"PEER_WORKERS": str(workers)}, log=log)
        shutil.rmtree(out, ignore_errors=True)
        for tool, (secs, kb) in (("stacforge run", ours), ("rio-cogeo + rio-stac pool", peer)):
            row = {"workers": workers, "tool": tool, "seconds": secs, "units_per_s": len(w4) / secs,
                   "MB_per_s": mb / secs, "peak_rss_MiB": kb / 1024, "ratio": secs / ours[0]}
            results["throughput"].append(row)
            lines.append(f"| {workers} | {tool} | {secs:.1f} | {row['units_per_s']:.1f} | {row['MB_per_s']:.1f} | "
                         f"{row['peak_rss_MiB']:.0f} | {row['ratio']:.2f} |")
            print(f"throughput, {workers} worker(s): {tool} {secs:.1f} s, {row['units_per_s']:.1f} units/s", flush=True)

    counts = (200, 2000) if args.quick else (1000, 10000)
    tiny = work / "scale-in"
    base = tiny / "base.tif"
    if not base.exists():
        tiny.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "fixtures/geotiff/landcover_laea.tif", base)
    lines += ["", f"Memory: one `stacforge run geotiff` (2 workers) over {counts[0]} and {counts[1]} sources "
              f"({base.stat().st_size / 1000:.1f} kB each), peak RSS.", "",
              "| sources | seconds | units/s | peak RSS MiB |", "| --- | --- | --- | --- |"]
    peaks = []
    for count in counts:
        shutil.rmtree(out, ignore_errors=True)
        sources = copies(tiny, base, count)
        secs, kb = timed([args.bin, "run", "geotiff", "--sources-from", str(sources), "--out", str(out),
                          "--datetime", WHEN, "-j", "2"], log=log)
        peaks.append(kb)
        results["memory"].append({"sources": count, "seconds": secs, "peak_rss_MiB": kb / 1024})
        lines.append(f"| {count} | {secs:.1f} | {count / secs:.0f} | {kb / 1024:.1f} |")
        print(f"memory: {count} sources, {secs:.1f} s, peak {kb / 1024:.1f} MiB", flush=True)
    shutil.rmtree(out, ignore_errors=True)
    growth = peaks[1] / peaks[0] - 1
    flat = growth <= 0.15
    results["memory_growth"] = growth
    lines += ["", f"Peak RSS grows {100 * growth:+.1f}% from {counts[0]} to {counts[1]} sources: "
              + ("flat (within 15%)." if flat else "NOT FLAT (more than 15%).")]
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    (work / "scale.md").write_text(text)
    (work / "scale.json").write_text(json.dumps(results, indent=1))
    if size == "default":
        (HERE / "SCALE.md").write_text(text)
        print("written to bench/SCALE.md")
    return 0 if flat or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
