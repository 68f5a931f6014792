#!/usr/bin/env python3
"""stacforge's benchmark suite: each task run by stacforge and by the tools
users would pick instead, alternating, in the same run, on generated
workloads (bench/workloads.py); the outputs of each pair are then checked to
be equivalent. Run it through `bench/run` (or `make bench`), which builds
stacforge in release mode and installs the peers into bench/.venv:

    bench/run             # default size (about 15 minutes on 2 cores), 3 runs each
    bench/run --quick     # smallest workloads, one run, every task and peer
    bench/run --large     # bigger workloads
    bench/run --only W2   # tasks whose name starts with W2

Prints a Markdown table (median, min-max, peak RSS, throughput, ratio
peer/stacforge, fraction of the machine's compression limit) and writes it
with a JSON copy to bench/.work/<size>/; a default-size run of every task
also writes bench/RESULTS.md and bench/RESULTS.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

import workloads

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable
RIO = str(Path(PY).with_name("rio"))
PEERS = str(HERE / "peers.py")
CORES = os.cpu_count() or 1

# The same COG creation options for every tool: tile size, predictor,
# nearest-neighbour overviews (the defaults of stacforge and rio-cogeo).
GDAL_CO = ["BLOCKSIZE=512", "PREDICTOR=YES", "OVERVIEW_RESAMPLING=NEAREST", "BIGTIFF=IF_SAFER"]


@dataclass
class Contender:
    name: str
    # Given the output folder, the processes to run one after the other.
    commands: Callable[[Path], list[list[str]]]
    env: dict = field(default_factory=dict)


@dataclass
class Task:
    name: str
    title: str
    workload: str
    contenders: list[Contender]
    # Checks the outputs (folder per contender name); raises on a difference.
    check: Callable[[list[Path], dict[str, Path]], str]
    unit: str = "MB/s"
    # The compression limit applies (W1): which codec.
    limit: str | None = None


@dataclass
class Measure:
    seconds: float
    peak_kb: int


def run_batch(commands: list[list[str]], env: dict, log: Path) -> Measure:
    """Runs the processes in order; wall time of all, the largest peak RSS.

    Each process is started by GNU time, whose own footprint is tiny: on
    Linux a child's peak RSS starts from its parent's at fork, so measuring
    from this Python process would report Python's size for small tools."""
    peak = 0
    full_env = {**os.environ, **env}
    rss = log.with_suffix(".rss")
    elapsed = 0.0
    with open(log, "w") as err:
        for argv in commands:
            start = time.perf_counter()
            proc = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(rss), *argv],
                                  stdout=subprocess.DEVNULL, stderr=err, env=full_env)
            elapsed += time.perf_counter() - start
            if proc.returncode != 0:
                err.flush()
                tail = log.read_text()[-3000:]
                raise SystemExit(f"failed ({proc.returncode}): {' '.join(argv[:6])} ...\n{tail}")
            peak = max(peak, int(rss.read_text().split()[-1]))
    return Measure(elapsed, peak)


def warm_up(bin: str, inputs: dict[str, list[Path]]) -> None:
    """Reads every input once and starts each program once, so the first
    tool measured does not pay for a cold page cache or cold libraries."""
    for files in inputs.values():
        for p in files:
            with open(p, "rb") as f:
                while f.read(1 << 24):
                    pass
    for argv in ([bin, "--version"], ["gdal_translate", "--version"], [RIO, "--version"],
                 [PY, "-c", "import xarray, dask, zarr, kerchunk, virtualizarr, rio_stac, stactools"]):
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def per_file(make: Callable[[Path, Path], list[str]], sources: list[Path]):
    """One process per source file (the tool's own command-line use)."""
    return lambda out: [make(src, out / f"{src.stem}.tif") for src in sources]


# ---------------------------------------------------------------- checks


def read_all(path: Path) -> np.ndarray:
    import rasterio

    with rasterio.open(path) as ds:
        return ds.read()


def same_pixels_as_sources(sources: list[Path], outs: dict[str, Path]) -> str:
    """Every COG holds its source's pixels, and stacforge's are valid COGs."""
    from rio_cogeo.cogeo import cog_validate

    for src in sources:
        want = read_all(src)
        for name, folder in outs.items():
            got = read_all(folder / f"{src.stem}.tif")
            if not np.array_equal(want, got):
                raise AssertionError(f"{name}: {src.name}: pixels differ from the source")
        valid, errors, _ = cog_validate(str(outs["stacforge"] / f"{src.stem}.tif"), quiet=True)
        if not valid:
            raise AssertionError(f"stacforge: {src.name}: not a valid COG: {errors}")
    return f"pixels of {len(sources)} x {len(outs)} COGs equal their sources; stacforge's pass rio-cogeo's validator"


def proj(properties: dict, key: str):
    """A projection field of a peer's item, in stacforge's form: rio-stac
    writes proj:transform as the 3 x 3 matrix (stacforge its first two rows)
    and, from its command line, proj:epsg (projection extension v1)."""
    if key == "proj:code" and key not in properties and properties.get("proj:epsg"):
        return f"EPSG:{properties['proj:epsg']}"
    value = properties[key]
    return value[:6] if key == "proj:transform" and len(value) == 9 else value


def cog_items_equivalent(sources: list[Path], outs: dict[str, Path]) -> str:
    """The COGs hold the sources' pixels; both items place them identically."""
    peer = outs["rio-cogeo + rio-stac"]
    for src in sources:
        item = json.loads((outs["stacforge"] / "items" / src.stem / f"{src.stem}.json").read_text())
        cog = outs["stacforge"] / "items" / src.stem / item["assets"]["data"]["href"].removeprefix("./")
        if not np.array_equal(read_all(src), read_all(cog)):
            raise AssertionError(f"stacforge: {src.name}: pixels differ from the source")
        if not np.array_equal(read_all(src), read_all(peer / f"{src.stem}.tif")):
            raise AssertionError(f"rio-cogeo: {src.name}: pixels differ from the source")
        theirs = json.loads((peer / f"{src.stem}.json").read_text())
        mine = item["assets"]["data"]
        for key in ("proj:shape", "proj:transform", "proj:code"):
            if mine[key] != proj(theirs["properties"], key):
                raise AssertionError(f"{src.name}: {key} {mine[key]} != rio-stac's {theirs['properties'][key]}")
        # stacforge's footprint is the valid data, rio-stac's the whole grid.
        a, b = item["bbox"], theirs["bbox"]
        if not (a[0] >= b[0] - 1e-6 and a[1] >= b[1] - 1e-6 and a[2] <= b[2] + 1e-6 and a[3] <= b[3] + 1e-6):
            raise AssertionError(f"{src.name}: stacforge's bbox {a} is not inside the grid's {b}")
    return "pixels equal the sources; same proj:shape/transform/code; stacforge's data footprint inside the grid's bbox"


def items_equivalent(sources: list[Path], outs: dict[str, Path]) -> str:
    """Same grid, CRS and (within 1e-3 degree) bbox for every source."""
    for src in sources:
        mine = json.loads((outs["stacforge"] / "items" / src.stem / f"{src.stem}.json").read_text())
        asset = mine["assets"]["data"]
        for name, theirs_path in (("rio-stac", outs["rio-stac"] / f"{src.name}.json"),
                                  ("stactools", outs["stactools"] / f"{src.stem}.json")):
            theirs = json.loads(theirs_path.read_text())
            for key in ("proj:shape", "proj:transform", "proj:code"):
                # rio-stac writes the 3 x 3 matrix, stacforge its first two rows.
                if asset[key] != proj(theirs["properties"], key):
                    raise AssertionError(f"{src.name}: {key} {asset[key]} != {name}'s {theirs['properties'][key]}")
            if not np.allclose(mine["bbox"], theirs["bbox"], atol=1e-3):
                raise AssertionError(f"{src.name}: bbox {mine['bbox']} != {name}'s {theirs['bbox']}")
    return f"{len(sources)} items x 3 tools: same proj:shape/transform/code, bbox within 1e-3 degree"


def zarr_equivalent(sources: list[Path], outs: dict[str, Path]) -> str:
    import xarray as xr

    a = xr.open_zarr(outs["stacforge"] / "store.zarr").load()
    b = xr.open_zarr(outs["xarray + dask"] / "store.zarr").load()
    a.attrs.pop("stacforge", None)
    xr.testing.assert_identical(a, b)
    return "xarray: both stores identical (values, coordinates, attributes)"


def refs_equivalent(sources: list[Path], outs: dict[str, Path]) -> str:
    import xarray as xr

    want = xr.open_mfdataset(sources, combine="nested", concat_dim="time").load()
    for name, folder in outs.items():
        ds = xr.open_dataset("reference://", engine="zarr", backend_kwargs={
            "consolidated": False, "storage_options": {"fo": str(folder / "refs.json")}}).load()
        for var in ("sst", "time", "lat", "lon"):
            xr.testing.assert_equal(ds[var], want[var])
    return "xarray through reference://: sst, time, lat, lon equal the sources for every tool"


def warp_equivalent(sources: list[Path], outs: dict[str, Path]) -> str:
    import rasterio

    for src in sources:
        arrays = {}
        for name, folder in outs.items():
            with rasterio.open(folder / f"{src.stem}.tif") as ds:
                arrays[name] = (ds.crs, ds.transform, ds.shape, ds.read())
        (crs, tr, shape, px), (crs2, tr2, shape2, px2) = arrays.values()
        if (crs, tr, shape) != (crs2, tr2, shape2):
            raise AssertionError(f"{src.name}: output grids differ: {(crs, tr, shape)} vs {(crs2, tr2, shape2)}")
        if not np.array_equal(px, px2, equal_nan=True):
            raise AssertionError(f"{src.name}: reprojected pixels differ")
    return "same grid, CRS and pixels"


# ---------------------------------------------------------------- tasks


def tasks(bin: str, inputs: dict[str, list[Path]]) -> list[Task]:
    w1, w2, w3, w4 = (inputs.get(k, []) for k in ("W1", "W2", "W3", "W4"))
    out = []
    # (task suffix, codec, level): GDAL's default levels (DEFLATE 6, ZSTD 9),
    # then level 1 of each, the fastest.
    for suffix, codec, level in (("deflate", "deflate", None), ("zstd", "zstd", None),
                                 ("zstd1", "zstd", 1), ("deflate1", "deflate", 1)):
        lvl = [f"LEVEL={level}"] if level else []
        co = [x for c in [f"COMPRESS={codec.upper()}", *lvl, *GDAL_CO] for x in ("-co", c)]
        ours = ["--compression", codec, *(["--level", str(level)] if level else [])]
        # stacforge as a maintainer calls it on a folder of scenes: one
        # command (it reads the next scene while one is written); also one
        # process per file, as the GDAL tools run.
        contenders = [
            Contender("stacforge", lambda o, a=ours: [[bin, "cogify", *map(str, w1), str(o), *a]]),
            Contender("stacforge (a process per file)", per_file(
                lambda s, d, a=ours: [bin, "cogify", str(s), str(d), *a], w1)),
            Contender("stacforge --engine gdal", lambda o, a=ours: [
                [bin, "cogify", *map(str, w1), str(o), *a, "--engine", "gdal"]]),
            Contender("gdal_translate (ALL_CPUS)", per_file(
                lambda s, d, co=co: ["gdal_translate", "-q", "-of", "COG", *co, "-co", "NUM_THREADS=ALL_CPUS", str(s), str(d)], w1)),
        ]
        if level is None:
            contenders += [
                Contender("gdal_translate (1 thread)", per_file(
                    lambda s, d, co=co: ["gdal_translate", "-q", "-of", "COG", *co, str(s), str(d)], w1)),
                Contender("rio cogeo create", per_file(
                    lambda s, d, c=codec: [RIO, "cogeo", "create", str(s), str(d), "-p", c, "--co", "PREDICTOR=2",
                                           "--blocksize", "512", "--overview-resampling", "nearest", "-q"], w1)),
            ]
        title = f"{codec}{f' level {level}' if level else ''}"
        out.append(Task(f"W1-cog-{suffix}", f"W1 → COG ({title}, overviews)", "W1", contenders,
                        same_pixels_as_sources, limit=suffix))
    out.append(Task(
        "W1-cog-item", "W1 → COG + item with statistics", "W1",
        [
            Contender("stacforge", lambda o: [[bin, "geotiff", "create-item", *map(str, w1), "--out", str(o)]]),
            Contender("stacforge --engine gdal", lambda o: [[bin, "geotiff", "create-item", *map(str, w1), "--out", str(o),
                                                            "--engine", "gdal"]]),
            Contender("rio-cogeo + rio-stac", lambda o: [
                argv for s in w1 for argv in (
                    [RIO, "cogeo", "create", str(s), str(o / f"{s.stem}.tif"), "-p", "deflate", "--co", "PREDICTOR=2", "-q"],
                    [RIO, "stac", str(o / f"{s.stem}.tif"), "-o", str(o / f"{s.stem}.json")])]),
        ],
        cog_items_equivalent, limit="deflate"))
    out.append(Task(
        "W2-zarr", "W2 → Zarr (v3, zstd 3, one day per chunk)", "W2",
        [
            Contender("stacforge", lambda o: [[bin, "netcdf", "to-zarr", *map(str, w2), "--out", str(o / "store.zarr"),
                                               "--chunks", "time=1", "--compression", "zstd:3"]]),
            Contender("xarray + dask", lambda o: [[PY, PEERS, "xarray-zarr", str(o / "store.zarr"), *map(str, w2)]]),
        ],
        zarr_equivalent))
    out.append(Task(
        "W2-refs", "W2 → virtual Zarr references (kerchunk JSON)", "W2",
        [
            Contender("stacforge", lambda o: [[bin, "netcdf", "to-refs", *map(str, w2), "--out", str(o / "refs.json")]]),
            Contender("kerchunk", lambda o: [[PY, PEERS, "kerchunk", str(o / "refs.json"), *map(str, w2)]]),
            Contender("VirtualiZarr", lambda o: [[PY, PEERS, "virtualizarr", str(o / "refs.json"), *map(str, w2)]]),
        ],
        refs_equivalent))
    warp_co = [x for c in ["COMPRESS=DEFLATE", *GDAL_CO, "NUM_THREADS=ALL_CPUS"] for x in ("-co", c)]
    out.append(Task(
        "W3-warp", "W3 → COG reprojected to EPSG:4326 (nearest)", "W3",
        [
            Contender("stacforge", per_file(lambda s, d: [bin, "cogify", str(s), str(d), "--t-srs", "EPSG:4326"], w3)),
            Contender("gdalwarp", per_file(
                lambda s, d: ["gdalwarp", "-q", "-of", "COG", "-t_srs", "EPSG:4326", "-r", "near", "-multi",
                              "-wo", "NUM_THREADS=ALL_CPUS", *warp_co, str(s), str(d)], w3)),
        ],
        warp_equivalent))
    out.append(Task(
        "W4-items", "W4 → items, metadata only", "W4",
        [
            Contender("stacforge", lambda o: [[bin, "geotiff", "create-item", "--in-place", *map(str, w4), "--out", str(o)]]),
            Contender("stacforge --engine gdal", lambda o: [[bin, "geotiff", "create-item", "--in-place", *map(str, w4),
                                                            "--out", str(o), "--engine", "gdal"]]),
            Contender("rio-stac", lambda o: [[PY, "-W", "ignore", PEERS, "rio-stac", str(o), *map(str, w4)]]),
            Contender("stactools", lambda o: [[PY, "-W", "ignore", PEERS, "stactools", str(o), *map(str, w4)]]),
        ],
        items_equivalent, unit="items/s"))
    return out


# ---------------------------------------------------------------- limits


def hardware_limits(w1: list[Path] | None, work: Path, quick: bool) -> dict:
    """Disk write throughput with fsync; and, with W1, single-core DEFLATE
    (libdeflate level 6, GDAL's, and 1) and zstd (level 9, GDAL's, and 1) throughput on
    W1's bytes after the horizontal predictor, in 512 x 512 tiles as a COG
    stores them."""
    limits = disk_limit(work, quick)
    if w1:
        limits.update(compression_limits(w1))
    return limits


def compression_limits(w1: list[Path]) -> dict:
    import deflate
    import zstandard

    band = read_all(w1[0])[0]
    size = min(band.shape[0], 2048)
    tiles = []
    for y in range(0, size, 512):
        for x in range(0, size, 512):
            t = band[y:y + 512, x:x + 512].astype(np.int32)
            t[:, 1:] = np.diff(t, axis=1)
            tiles.append((t & 0xFFFF).astype("<u2").tobytes())
    raw = sum(map(len, tiles))
    zc = zstandard.ZstdCompressor(level=9)
    zc1 = zstandard.ZstdCompressor(level=1)
    codecs = {"deflate": lambda b: deflate.deflate_compress(b, 6), "zstd": zc.compress,
              "deflate1": lambda b: deflate.deflate_compress(b, 1), "zstd1": zc1.compress}
    limits = {}
    for name, compress in codecs.items():
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            for t in tiles:
                compress(t)
            best = min(best, time.perf_counter() - t0)
        limits[f"{name}_MBps_per_core"] = raw / best / 1e6
    return limits


def disk_limit(work: Path, quick: bool) -> dict:
    limits = {}
    block = np.random.default_rng(0).bytes(8 << 20)
    total = (128 if quick else 1024) << 20
    path = work / ".disk-probe"
    t0 = time.perf_counter()
    with open(path, "wb") as f:
        for _ in range(total // len(block)):
            f.write(block)
        f.flush()
        os.fsync(f.fileno())
    limits["disk_write_MBps"] = total / (time.perf_counter() - t0) / 1e6
    path.unlink()
    return limits


# ---------------------------------------------------------------- report


def machine() -> dict:
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem = next((int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
    return {"cpu": cpu, "cores": CORES, "memory_GiB": round(mem / 2**20, 1), "kernel": platform.release(),
            "os": platform.freedesktop_os_release().get("PRETTY_NAME", "?") if hasattr(platform, "freedesktop_os_release") else "?"}


def versions(bin: str) -> dict:
    from importlib.metadata import version

    v = {"stacforge": subprocess.run([bin, "--version"], capture_output=True, text=True).stdout.strip(),
         "gdal (system)": subprocess.run(["gdal_translate", "--version"], capture_output=True, text=True).stdout.strip()}
    for pkg in ("rio-cogeo", "rasterio", "rio-stac", "stactools", "xarray", "dask", "zarr", "kerchunk", "virtualizarr"):
        v[pkg] = version(pkg)
    import rasterio

    v["rasterio's gdal"] = rasterio.__gdal_version__
    return v


def table(results: list[dict], limits: dict) -> str:
    rows = ["| Task | Tool | Median s | Min–max s | Peak RSS MiB | Throughput | Peer / stacforge | Written MB | Of compression limit | Of disk limit |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        ratio = "—" if r["tool"] == "stacforge" else f"{r['ratio']:.2f}×"
        limit = f"{r['of_limit']:.0%}" if r.get("of_limit") is not None else ""
        disk = f"{r['of_disk']:.1%}" if r.get("of_disk") is not None else ""
        rows.append(f"| {r['title']} | {r['tool']} | {r['median_s']:.2f} | {r['min_s']:.2f}–{r['max_s']:.2f} | "
                    f"{r['peak_rss_MiB']:.0f} | {r['throughput']:.1f} {r['unit']} | {ratio} | "
                    f"{r['written_MB']:.1f} | {limit} | {disk} |")
    return "\n".join(rows)


def tree_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def targets(results: list[dict]) -> list[str]:
    by = {(r["task"], r["tool"]): r for r in results}
    lines = []

    def target(text, ok, got):
        lines.append(f"- [{'x' if ok else ' '}] {text}: {got} — {'met' if ok else 'NOT met'}")

    if ("W1-cog-item", "rio-cogeo + rio-stac") in by:
        r = by[("W1-cog-item", "rio-cogeo + rio-stac")]
        target("W1 → COG + item ≥ 4× faster than rio-cogeo + rio-stac", r["ratio"] >= 4, f"{r['ratio']:.2f}×")
    for suffix, title, need in (("deflate", "DEFLATE level 6", 1.8), ("zstd", "ZSTD level 9", 1.0),
                                ("zstd1", "ZSTD level 1", 5.0), ("deflate1", "DEFLATE level 1", 1.0)):
        g = by.get((f"W1-cog-{suffix}", "gdal_translate (ALL_CPUS)"))
        s = by.get((f"W1-cog-{suffix}", "stacforge"))
        if g:
            target(f"W1 → COG ({title}) ≥ {need}× gdal_translate -of COG, same options, NUM_THREADS=ALL_CPUS",
                   g["ratio"] >= need, f"{g['ratio']:.2f}×")
            mem = s["peak_rss_MiB"] / g["peak_rss_MiB"]
            target(f"W1 → COG ({title}) peak RSS not above gdal_translate's", mem <= 1.0, f"{mem:.2f}×")
        if s and s.get("of_limit") is not None:
            target(f"W1 → COG ({title}) within 1.3× of the 2-core compression limit", s["of_limit"] >= 1 / 1.3,
                   f"{1 / s['of_limit']:.2f}× the limit")
    if ("W4-items", "rio-stac") in by:
        r = by[("W4-items", "rio-stac")]
        target("W4 items ≥ 10× rio-stac's items per second", r["ratio"] >= 10, f"{r['ratio']:.1f}×")
    if ("W2-zarr", "xarray + dask") in by:
        r = by[("W2-zarr", "xarray + dask")]
        s = by[("W2-zarr", "stacforge")]
        mem = s["peak_rss_MiB"] / r["peak_rss_MiB"]
        target("W2 → Zarr ≥ 3× faster than xarray + dask", r["ratio"] >= 3, f"{r['ratio']:.2f}×")
        target("W2 → Zarr peak memory ≤ 1/4 of xarray + dask's", mem <= 0.25, f"{mem:.2f}")
    if ("W2-refs", "kerchunk") in by:
        r = by[("W2-refs", "kerchunk")]
        target("W2 → references ≥ 10× faster than kerchunk", r["ratio"] >= 10, f"{r['ratio']:.1f}×")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smallest workloads, one run: a smoke test")
    size.add_argument("--large", action="store_true", help="bigger workloads")
    parser.add_argument("--only", help="comma-separated task name prefixes (W1, W2-zarr, ...)")
    parser.add_argument("--runs", type=int, help="runs per tool (default 3; 1 with --quick)")
    parser.add_argument("--bin", default=str(ROOT / "target/release/stacforge"))
    args = parser.parse_args()
    size_name = "quick" if args.quick else "large" if args.large else "default"
    runs = args.runs or (1 if args.quick else 3)
    work = ROOT / "bench/.work" / size_name
    work.mkdir(parents=True, exist_ok=True)
    started = time.time()

    all_tasks = tasks(args.bin, {})
    chosen = [t for t in all_tasks if not args.only or any(t.name.startswith(p) for p in args.only.split(","))]
    needed = sorted({t.workload for t in chosen} | ({"W1"} if any(t.limit for t in chosen) else set()))
    inputs = {w: workloads.inputs(workloads.ensure(work, w, workloads.SIZES[size_name][w])) for w in needed}
    chosen = [t for t in tasks(args.bin, inputs) if t.name in {c.name for c in chosen}]

    warm_up(args.bin, inputs)
    limits = hardware_limits(inputs.get("W1"), work, args.quick)
    if limits:
        print("machine limits: " + ", ".join(f"{k} {v:.0f}" for k, v in limits.items()), flush=True)
    results, checks, failed = [], {}, []
    for task in chosen:
        sources = inputs[task.workload]
        amount = len(sources) if task.unit == "items/s" else sum(p.stat().st_size for p in sources) / 1e6
        measures: dict[str, list[Measure]] = {c.name: [] for c in task.contenders}
        outs = {c.name: work / "out" / task.name / c.name.replace(" ", "_").replace("/", "_") for c in task.contenders}
        for run in range(runs):
            for c in task.contenders:
                shutil.rmtree(outs[c.name], ignore_errors=True)
                outs[c.name].mkdir(parents=True)
                subprocess.run(["sync"])
                m = run_batch(c.commands(outs[c.name]), c.env, work / "last.log")
                measures[c.name].append(m)
                print(f"{task.name} run {run + 1}/{runs}: {c.name} {m.seconds:.2f} s, {m.peak_kb / 1024:.0f} MiB", flush=True)
        try:
            checks[task.name] = task.check(sources, outs)
            print(f"{task.name}: equivalent outputs: {checks[task.name]}", flush=True)
        except AssertionError as e:
            checks[task.name] = f"DIFFERENT: {e}"
            failed.append(task.name)
            print(f"{task.name}: OUTPUTS DIFFER: {e}", flush=True)
        written = {name: tree_bytes(folder) for name, folder in outs.items()}
        base = statistics.median(m.seconds for m in measures["stacforge"])
        raw_bytes = sum(4 / 3 * read_shape_bytes(p) for p in sources) if task.limit else 0
        for c in task.contenders:
            secs = [m.seconds for m in measures[c.name]]
            med = statistics.median(secs)
            r = {
                "task": task.name, "title": task.title, "tool": c.name, "runs": secs,
                "median_s": med, "min_s": min(secs), "max_s": max(secs),
                "peak_rss_MiB": statistics.median(m.peak_kb for m in measures[c.name]) / 1024,
                "throughput": amount / med, "unit": task.unit, "ratio": med / base,
                "of_limit": None, "written_MB": written[c.name] / 1e6,
                # The time the disk needs for what the tool wrote, over the measured time.
                "of_disk": written[c.name] / 1e6 / limits["disk_write_MBps"] / med,
            }
            if task.limit:
                limit_s = raw_bytes / 1e6 / (limits[f"{task.limit}_MBps_per_core"] * CORES)
                r["of_limit"] = limit_s / med
            results.append(r)
        shutil.rmtree(work / "out" / task.name, ignore_errors=True)

    report = [f"# stacforge benchmark results ({size_name} size, {runs} run(s) per tool, median)", ""]
    m = machine()
    report.append(f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_GiB']} GiB, {m['os']}, Linux {m['kernel']}. "
                  f"Run {time.strftime('%Y-%m-%d', time.gmtime(started))}, {(time.time() - started) / 60:.1f} min in all.")
    report.append("")
    report.append("Versions: " + "; ".join(f"{k} {v}" for k, v in versions(args.bin).items()) + ".")
    report.append("")
    sizes = workloads.SIZES[size_name]
    report.append("Workloads: " + "; ".join(f"{w} {sizes[w]} ({len(inputs[w])} files, "
                                            f"{sum(p.stat().st_size for p in inputs[w]) / 1e6:.0f} MB)" for w in needed) + ".")
    report.append("")
    if "deflate_MBps_per_core" in limits:
        report.append(f"Machine limits: DEFLATE {limits['deflate_MBps_per_core']:.0f} MB/s per core (libdeflate level 6; "
                      f"{limits['deflate1_MBps_per_core']:.0f} at level 1), "
                      f"zstd {limits['zstd_MBps_per_core']:.0f} MB/s per core (level 9; {limits['zstd1_MBps_per_core']:.0f} "
                      "at level 1), on W1 tiles after the predictor; "
                      f"disk writes {limits['disk_write_MBps']:.0f} MB/s (fsync). \"Of compression limit\" (W1) is the "
                      f"time all {CORES} cores would need just to compress the pixels and overviews, over the measured "
                      "time; \"Of disk limit\" is the time the disk needs to write what the tool wrote, over the "
                      "measured time.")
    else:
        report.append(f"Machine limits: disk writes {limits['disk_write_MBps']:.0f} MB/s (fsync); \"Of disk limit\" is "
                      "the time the disk needs to write what the tool wrote, over the measured time.")
    report += ["", table(results, limits), "", "Equivalence checks:", ""]
    report += [f"- {k}: {v}" for k, v in checks.items()]
    report += ["", "Targets:", ""] + targets(results)
    text = "\n".join(report) + "\n"
    print("\n" + text)
    (work / "results.md").write_text(text)
    payload = {"size": size_name, "runs": runs, "machine": m, "limits": limits, "results": results, "checks": checks}
    (work / "results.json").write_text(json.dumps(payload, indent=1))
    if size_name == "default" and not args.only and not args.runs and not failed:
        (HERE / "RESULTS.md").write_text(text)
        (HERE / "RESULTS.json").write_text(json.dumps(payload, indent=1))
        print("written to bench/RESULTS.md and bench/RESULTS.json")
    if failed:
        print(f"outputs differ in: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def read_shape_bytes(path: Path) -> int:
    import rasterio

    with rasterio.open(path) as ds:
        return ds.width * ds.height * ds.count * np.dtype(ds.dtypes[0]).itemsize


if __name__ == "__main__":
    sys.exit(main())
