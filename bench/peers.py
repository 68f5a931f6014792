"""The peer tools' side of each benchmark task, written the way their
documentation tells users to do it. The suite runs each as its own process:

    python bench/peers.py TASK OUT SRC...
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def xarray_zarr(out: str, sources: list[str]) -> None:
    """pangeo's recipe: open_mfdataset with dask, one day per chunk, to_zarr (v3, zstd level 3)."""
    import xarray as xr
    from zarr.codecs import ZstdCodec

    ds = xr.open_mfdataset(sources, combine="nested", concat_dim="time", chunks={"time": 1})
    encoding = {v: {"compressors": [ZstdCodec(level=3)]} for v in ds.variables}
    ds.to_zarr(out, zarr_format=3, consolidated=True, encoding=encoding)


def kerchunk_refs(out: str, sources: list[str]) -> None:
    """kerchunk: SingleHdf5ToZarr per file, then MultiZarrToZarr along time."""
    import fsspec
    from kerchunk.combine import MultiZarrToZarr
    from kerchunk.hdf import SingleHdf5ToZarr

    singles = []
    for src in sources:
        with fsspec.open(src) as f:
            singles.append(SingleHdf5ToZarr(f, src).translate())
    combined = MultiZarrToZarr(singles, concat_dims=["time"], identical_dims=["lat", "lon"])
    with open(out, "w") as f:
        json.dump(combined.translate(), f)


def virtualizarr_refs(out: str, sources: list[str]) -> None:
    """VirtualiZarr: open_virtual_dataset per file (HDF parser), concat along time, to kerchunk JSON."""
    import warnings

    import xarray as xr
    from obstore.store import LocalStore
    from virtualizarr import open_virtual_dataset
    from virtualizarr.parsers import HDFParser

    try:
        from obspec_utils.registry import ObjectStoreRegistry
    except ImportError:  # older VirtualiZarr
        from virtualizarr.registry import ObjectStoreRegistry

    warnings.simplefilter("ignore")
    registry = ObjectStoreRegistry({"file://": LocalStore()})
    parser = HDFParser()
    datasets = [
        open_virtual_dataset(f"file://{Path(s).resolve()}", registry=registry, parser=parser,
                             loadable_variables=["time", "lat", "lon"])
        for s in sources
    ]
    combined = xr.concat(datasets, dim="time", coords="minimal", compat="override")
    combined.vz.to_kerchunk(out, format="json")


def rio_stac_items(out: str, sources: list[str]) -> None:
    """rio-stac: create_stac_item per file (projection extension, no pixel statistics), one JSON each."""
    from rio_stac import create_stac_item

    Path(out).mkdir(parents=True, exist_ok=True)
    for src in sources:
        item = create_stac_item(src, with_proj=True, asset_name="data", asset_roles=["data"])
        with open(Path(out) / f"{item.id}.json", "w") as f:
            json.dump(item.to_dict(), f)


def stactools_items(out: str, sources: list[str]) -> None:
    """stactools: stactools.core.create.item per file, one JSON each."""
    from stactools.core.create import item as create_item

    Path(out).mkdir(parents=True, exist_ok=True)
    for src in sources:
        item = create_item(src)
        with open(Path(out) / f"{item.id}.json", "w") as f:
            json.dump(item.to_dict(), f)


def _cog_and_item(job: tuple[str, str]) -> None:
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles
    from rio_stac import create_stac_item

    src, out = job
    stem = Path(src).stem
    folder = Path(out) / stem
    folder.mkdir(parents=True, exist_ok=True)
    cog = folder / f"{stem}.tif"
    cog_translate(src, str(cog), cog_profiles.get("deflate"), quiet=True)
    item = create_stac_item(str(cog), with_proj=True, asset_name="data", asset_roles=["data"])
    with open(folder / f"{stem}.json", "w") as f:
        json.dump(item.to_dict(), f)


def cogeo_stac_pool(out: str, sources: list[str]) -> None:
    """What users glue together for a collection: rio-cogeo's cog_translate and rio-stac's
    create_stac_item per file, in a multiprocessing pool of PEER_WORKERS processes."""
    import multiprocessing
    import os

    workers = int(os.environ.get("PEER_WORKERS", "1"))
    with multiprocessing.Pool(workers) as pool:
        pool.map(_cog_and_item, [(s, out) for s in sources], chunksize=8)


TASKS = {
    "cogeo-stac-pool": cogeo_stac_pool,
    "xarray-zarr": xarray_zarr,
    "kerchunk": kerchunk_refs,
    "virtualizarr": virtualizarr_refs,
    "rio-stac": rio_stac_items,
    "stactools": stactools_items,
}

if __name__ == "__main__":
    task, out, *sources = sys.argv[1:]
    TASKS[task](out, sources)
