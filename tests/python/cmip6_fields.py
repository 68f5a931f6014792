"""Checks the CMIP6 fields of stacforge's items against the files' own
global attributes, read with netCDF4 (not with stacforge).

usage: cmip6_fields.py ITEM.json [ITEM.json ...]

For every item: each `cmip6:<attr>` property equals the global attribute
<attr> of its source files (integers for the four indices; activity_id is
one of the listed activities; creation_date is the first file's), except where the item lists a correction
(`stacforge:corrections`: the file's value must be the published one);
every attribute the CMIP6 extension (v2.0.0) defines and the file has is
there; each `via` link's `cmip6:tracking_id`, `file:size` and
`file:checksum` are its file's.
"""
import hashlib
import json
import os
import sys
from urllib.parse import unquote, urlparse

import netCDF4

FIELDS = [
    "Conventions", "activity_id", "creation_date", "data_specs_version", "experiment",
    "experiment_id", "forcing_index", "frequency", "further_info_url", "grid", "grid_label",
    "initialization_index", "institution", "institution_id", "license", "mip_era",
    "nominal_resolution", "physics_index", "product", "realization_index", "realm", "source",
    "source_id", "source_type", "sub_experiment", "sub_experiment_id", "table_id",
    "variable_id", "variant_label",
]
INTEGERS = {"forcing_index", "initialization_index", "physics_index", "realization_index"}

checked = 0
for path in sys.argv[1:]:
    with open(path) as f:
        item = json.load(f)
    props = item["properties"]
    corrections = {c["attribute"]: c for c in props.get("stacforge:corrections", [])}
    via = [l for l in item["links"] if l["rel"] == "via"]
    assert via, f"{path}: no via links"
    for n, link in enumerate(via):
        file = unquote(urlparse(link["href"]).path)
        with netCDF4.Dataset(file) as ds:
            attrs = {k: ds.getncattr(k) for k in ds.ncattrs()}
        with open(file, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        assert link["file:checksum"] == "1220" + digest, (path, file)
        assert link["file:size"] == os.path.getsize(file), (path, file)
        assert link["cmip6:tracking_id"] == attrs["tracking_id"], (path, file)
        for field in FIELDS:
            key = f"cmip6:{field}"
            # Each file has its own creation date; the item has the first's.
            if field == "creation_date" and n > 0:
                continue
            if field not in attrs:
                assert key not in props or field == "sub_experiment_id", (path, key)
                continue
            expected = attrs[field]
            expected = int(expected) if field in INTEGERS else str(expected).strip()
            if field in corrections:
                assert expected == corrections[field]["published"], (path, field, expected)
                expected = corrections[field]["corrected"]
            if field == "activity_id":
                assert props[key] in expected.split(), (path, props[key], expected)
                continue
            assert props.get(key) == expected, (path, key, props.get(key), expected)
        checked += 1
print(f"{checked} source file(s) of {len(sys.argv) - 1} item(s): CMIP6 fields equal their global attributes")
