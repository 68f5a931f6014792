"""Checks that a snapshot of an Icechunk repository written by stacforge,
opened with Python icechunk and read by xarray, equals a NetCDF file read
by xarray.

usage: icechunk_equal.py REFERENCE.nc REPO [SNAPSHOT|TAG]

REPO is a directory or s3://bucket/prefix (credentials from the AWS_*
variables, the endpoint from STACFORGE_S3_ENDPOINT). Without SNAPSHOT the
tip of `main` is read. Virtual chunk containers the
repository's configuration names (stacforge makes one per directory of
sources) are authorized for reading. Values, coordinates, decoded times and
attributes must be identical (xarray.testing.assert_identical), and each
variable's dtype too; the repository's `stacforge` record of its sources is
the one attribute the file lacks, and it must name the sources.
"""
import os
import sys

import icechunk
import xarray as xr

reference_path, repo_path = sys.argv[1], sys.argv[2]
at = sys.argv[3] if len(sys.argv) > 3 else None
if repo_path.startswith("s3://"):
    bucket, _, prefix = repo_path[len("s3://"):].partition("/")
    storage = icechunk.s3_storage(
        bucket=bucket,
        prefix=prefix,
        endpoint_url=os.environ["STACFORGE_S3_ENDPOINT"],
        allow_http=True,
        force_path_style=True,
        region=os.environ.get("AWS_REGION", "us-east-1"),
        access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
    )
else:
    storage = icechunk.local_filesystem_storage(repo_path)
repo = icechunk.Repository.open(storage)
containers = repo.config.virtual_chunk_containers or {}
if containers:
    local = icechunk.credentials.LocalFileSystemAccess
    credentials = {prefix: local for prefix in containers if prefix.startswith("file://")}
    repo = icechunk.Repository.open(storage, authorize_virtual_chunk_access=credentials)
if at is None:
    session = repo.readonly_session(branch="main")
elif at in repo.list_tags():
    session = repo.readonly_session(tag=at)
else:
    session = repo.readonly_session(snapshot_id=at)
ds = xr.open_zarr(session.store, consolidated=False, zarr_format=3).load()
record = ds.attrs.pop("stacforge")
assert record["sources"], "the repository records no sources"
reference = xr.open_dataset(reference_path)
# A store stacforge wrote (a reference for an appended repository) has its own record.
reference.attrs.pop("stacforge", None)
xr.testing.assert_identical(reference, ds)
for name in reference.variables:
    a, b = reference[name].dtype, ds[name].dtype
    assert a.newbyteorder("=") == b.newbyteorder("="), (name, a, b)
print(f"{repo_path}@{session.snapshot_id}: identical to {reference_path} ({len(record['sources'])} source(s))")
