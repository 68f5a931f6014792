"""Checks that kerchunk references whose chunks live on object storage,
read through fsspec's reference:// filesystem by xarray (zarr-python),
equal the local NetCDF files they were made from, combined along time.

usage: refs_remote_equal.py REFS PROTOCOL OPTIONS_JSON FILE [FILE ...]

PROTOCOL and OPTIONS_JSON are the fsspec filesystem of the chunks (e.g.
`s3` and `{"key": ..., "secret": ..., "client_kwargs": {"endpoint_url":
...}}`). Every chunk URL must use PROTOCOL. Values (as stored and decoded),
coordinates, times and attributes must be identical as stored; decoded
values agree to float32 precision.
"""
import json
import sys

import xarray as xr

refs, protocol, options, files = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4:]
with open(refs) as f:
    chunks = [v for v in json.load(f)["refs"].values() if isinstance(v, list)]
assert chunks, "no chunk references"
for url, *_ in chunks:
    assert url.startswith(f"{protocol}://"), f"a chunk is read from {url}, not from {protocol}://"

# zarr-python opens the reference filesystem asynchronously; its target must be too.
options = {"asynchronous": True, **options}
for raw in (True, False):
    remote = xr.open_dataset(
        "reference://",
        engine="zarr",
        mask_and_scale=not raw,
        backend_kwargs={
            "consolidated": False,
            "storage_options": {"fo": refs, "remote_protocol": protocol, "remote_options": options},
        },
    ).load()
    record = remote.attrs.pop("stacforge")
    assert len(record["sources"]) == len(files), record
    local = xr.concat(
        [xr.open_dataset(f, mask_and_scale=not raw).load() for f in files], dim="time"
    )
    if raw:
        xr.testing.assert_identical(local, remote)
    else:
        # Decoded, xarray may unpack to float32 on one path and float64 on
        # the other: values agree to float32 precision, times exactly.
        xr.testing.assert_allclose(local, remote.astype(local.dtypes), rtol=1e-6)
        assert local.attrs == remote.attrs
print(f"{refs}: {len(chunks)} chunks from {protocol}://, identical to {len(files)} local files")
