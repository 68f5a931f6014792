//! `stacforge run PACKAGE SRC... --out CATALOG`: every registered package
//! through the shared run loop, into a valid catalog whose items link every
//! source; array packages give one item for a whole series, which xarray
//! reads back equal to the sources; the `netcdf` verbs describe what they
//! write as `run` does.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The fixtures each package is run over, and how many items it makes
/// (`None`: at least one; a package `stacforge new-package` wrote runs
/// over its own `packages/<id>/fixtures/`).
fn fixtures_of(id: &str) -> (Vec<PathBuf>, Option<usize>) {
    let (files, n) = builtin_fixtures(id).unwrap_or_else(|| {
        let dir = root().join("packages").join(id).join("fixtures");
        assert!(
            dir.is_dir(),
            "package {id} has no fixtures in tests/run.rs nor {}",
            dir.display()
        );
        (package_fixtures(&dir), 0)
    });
    (files, (n > 0).then_some(n))
}

/// A package's fixtures: every file under `dir` but documentation,
/// generators and the `bad/` ones it must refuse.
fn package_fixtures(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = tree(dir)
        .into_iter()
        .map(|(relative, _)| dir.join(relative))
        .filter(|p| !p.starts_with(dir.join("bad")))
        .filter(|p| p.extension().is_some_and(|e| e != "md" && e != "py"))
        .collect();
    files.sort();
    files
}

fn builtin_fixtures(id: &str) -> Option<(Vec<PathBuf>, usize)> {
    Some(match id {
        // Three datasets, one of two files (packages/cmip6/fixtures/README.md).
        "cmip6" => (package_fixtures(&root().join("packages/cmip6/fixtures")), 3),
        "geotiff" => {
            let tifs = fixture_files("geotiff", "tif");
            let n = tifs.len();
            (tifs, n)
        }
        "modis" => (
            fixture_files("modis", "hdf").into_iter().take(2).collect(),
            2,
        ),
        "imerg" => {
            let mut files = fixture_files("imerg", "HDF5");
            files.extend(fixture_files("imerg", "nc4"));
            let n = files.len();
            (files, n)
        }
        "netcdf" => (fixture_files("netcdf", "nc"), 3),
        "netcdf-zarr" | "netcdf-refs" => (fixture_files("netcdf", "nc"), 1),
        _ => return None,
    })
}

fn run(id: &str, sources: &[PathBuf], out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args: Vec<String> = vec!["run".into(), id.into()];
    args.extend(sources.iter().map(|p| p.display().to_string()));
    args.extend(["--out".into(), out.display().to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    stacforge(&args)
}

fn items_of(catalog: &Path) -> Vec<(PathBuf, Value)> {
    let mut items = Vec::new();
    for entry in std::fs::read_dir(catalog.join("items")).unwrap() {
        let dir = entry.unwrap().path();
        let id = dir.file_name().unwrap().to_string_lossy().into_owned();
        let path = dir.join(format!("{id}.json"));
        items.push((path.clone(), json(&path)));
    }
    items.sort_by(|a, b| a.0.cmp(&b.0));
    items
}

fn multihash(path: &Path) -> String {
    stacforge_core::checksum::sha256_multihash(std::fs::File::open(path).unwrap()).unwrap()
}

/// Every package `stacforge list` shows runs over its fixtures into a
/// catalog valid against the official schemas, with as many items as the
/// package plans, each linking (`via`) the exact bytes of each source.
#[test]
fn run_works_for_every_registered_package() {
    let list = stacforge(["list", "--json"]);
    assert!(list.status.success(), "{}", text(&list));
    let list: Value = serde_json::from_slice(&list.stdout).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for package in list.as_array().unwrap() {
        let id = package["id"].as_str().unwrap();
        let (sources, expected_items) = fixtures_of(id);
        let out = dir.path().join(id);
        let ran = run(id, &sources, &out, &[]);
        assert!(ran.status.success(), "{id}: {}", text(&ran));
        let items = items_of(&out);
        match expected_items {
            Some(n) => assert_eq!(items.len(), n, "{id}: {}", text(&ran)),
            None => assert!(!items.is_empty(), "{id}: {}", text(&ran)),
        }
        assert_schema_valid(&out.join("collection.json"));
        let mut linked = std::collections::BTreeSet::new();
        for (path, item) in &items {
            assert_schema_valid(path);
            for link in item["links"].as_array().unwrap() {
                if link["rel"] == "via" {
                    let href = link["href"].as_str().unwrap();
                    let file = stacforge_core::href::decode(href.trim_start_matches("file://"))
                        .map(PathBuf::from)
                        .unwrap();
                    assert_eq!(link["file:size"], std::fs::metadata(&file).unwrap().len());
                    assert_eq!(link["file:checksum"], multihash(&file), "{id}: {href}");
                    linked.insert(file);
                }
            }
            for (key, asset) in item["assets"].as_object().unwrap() {
                for field in ["type", "roles", "file:size", "file:checksum"] {
                    assert!(asset.get(field).is_some(), "{id} {key}: no {field}");
                }
            }
        }
        let given: std::collections::BTreeSet<PathBuf> =
            sources.iter().map(|s| s.canonicalize().unwrap()).collect();
        assert_eq!(linked, given, "{id}: items must link every source");
        let valid = stacforge(
            ["validate".into(), out.display().to_string()]
                .into_iter()
                .chain(schemas().map(|s| format!("--schemas={}", s.display()))),
        );
        assert!(valid.status.success(), "{id}: {}", text(&valid));
    }
}

/// A series becomes one cube item: the store published beside the item
/// and the references read back by xarray equal the full upstream file the
/// series was split from.
#[test]
fn a_series_runs_into_one_cube_item_that_xarray_reads_back() {
    let (Some(data), Some(venv)) = (shared_data(), interop_venv()) else {
        return;
    };
    let (t1, t2, full) = air_series(&data);
    let dir = tempfile::tempdir().unwrap();
    let zarr = dir.path().join("zarr");
    let ran = run(
        "netcdf-zarr",
        &[t2.clone(), t1.clone()],
        &zarr,
        &["--item-id", "air"],
    );
    assert!(ran.status.success(), "{}", text(&ran));
    let item = json(&zarr.join("items/air/air.json"));
    assert_eq!(item["assets"]["zarr"]["href"], "./air.zarr");
    let store = zarr.join("items/air/air.zarr");
    assert_eq!(
        item["assets"]["zarr"]["file:checksum"],
        multihash(&store.join("zarr.json"))
    );
    assert_eq!(
        item["properties"]["cube:dimensions"]["time"]["step"],
        "PT6H"
    );
    assert_python_check(&venv, "xarray_equal.py", &[full.clone(), store]);

    let refs = dir.path().join("refs");
    let ran = run("netcdf-refs", &[t1, t2], &refs, &["--item-id", "air"]);
    assert!(ran.status.success(), "{}", text(&ran));
    let item = json(&refs.join("items/air/air.json"));
    let file = refs.join("items/air/air.refs.json");
    assert_eq!(item["assets"]["references"]["href"], "./air.refs.json");
    assert_eq!(
        item["assets"]["references"]["file:checksum"],
        multihash(&file)
    );
    assert_python_check(&venv, "refs_equal.py", &[full, file]);
}

/// The `netcdf to-zarr --catalog` front end describes its store as `run
/// netcdf-zarr` does: same cube, same grid, same time, same metadata bytes.
#[test]
fn the_verbs_describe_what_they_write_as_run_does() {
    let sources = fixture_files("netcdf", "nc");
    let dir = tempfile::tempdir().unwrap();
    let via_run = dir.path().join("run");
    let ran = run("netcdf-zarr", &sources, &via_run, &["--item-id", "sst"]);
    assert!(ran.status.success(), "{}", text(&ran));
    let store = dir.path().join("sst.zarr");
    let catalog = dir.path().join("verb");
    let refs: Vec<&Path> = sources.iter().map(PathBuf::as_path).collect();
    let verb = netcdf(
        "to-zarr",
        &refs,
        &store,
        &["--catalog", &catalog.display().to_string()],
    );
    assert!(verb.status.success(), "{}", text(&verb));
    let a = json(&via_run.join("items/sst/sst.json"));
    let b = json(&catalog.join("items/sst/sst.json"));
    for key in [
        "cube:dimensions",
        "cube:variables",
        "proj:code",
        "proj:shape",
        "proj:transform",
        "start_datetime",
        "end_datetime",
    ] {
        assert_eq!(a["properties"][key], b["properties"][key], "{key}");
    }
    assert_eq!(a["geometry"], b["geometry"]);
    assert_eq!(
        a["assets"]["zarr"]["file:checksum"], b["assets"]["zarr"]["file:checksum"],
        "the same recipe writes the same metadata"
    );
    let via = |item: &Value| -> Vec<Value> {
        item["links"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["rel"] == "via")
            .cloned()
            .collect()
    };
    assert_eq!(via(&a), via(&b));
    assert_eq!(via(&a).len(), 3);
}

/// A bad source in a series fails the run with its name and the reason,
/// exit code 1, and leaves no item; `--skip-bad` leaves it out and writes
/// the others.
#[test]
fn a_bad_source_in_a_series_is_named_and_can_be_left_out() {
    let mut sources = fixture_files("netcdf", "nc");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("oisst-avhrr-v02r01.20220916.nc");
    truncate_copy(&sources[0], &bad, 0.5);
    sources.push(bad.clone());
    let out = dir.path().join("cat");
    let ran = run("netcdf-zarr", &sources, &out, &[]);
    assert_fails_saying(&ran, 1, &["oisst-avhrr-v02r01.20220916.nc"]);
    assert!(!out.join("items").exists() || items_of(&out).is_empty());
    let ran = run("netcdf-zarr", &sources, &out, &["--skip-bad"]);
    assert!(ran.status.success(), "{}", text(&ran));
    assert!(
        text(&ran).contains("oisst-avhrr-v02r01.20220916.nc"),
        "{}",
        text(&ran)
    );
    let items = items_of(&out);
    assert_eq!(items.len(), 1);
    let via = items[0].1["links"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["rel"] == "via")
        .count();
    assert_eq!(via, 3, "the left-out source is not linked");
}

/// The NetCDF series fixtures are what their generator writes.
#[test]
fn the_netcdf_fixtures_are_what_their_generator_writes() {
    let Some(venv) = interop_venv() else { return };
    assert_generator_reproduces(&venv, "netcdf/generate.py", &fixture_files("netcdf", "nc"));
}

/// `make demo` (scripts/demo.sh) runs the whole path into one catalog that
/// validates, and says where each output is and how to open it (seven
/// collections: GeoTIFF, MODIS, a Zarr store, references, an Icechunk
/// repository, CMIP6 and a CMIP6 subset).
#[test]
fn the_demo_runs_into_one_valid_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo-out");
    let mut demo = std::process::Command::new("bash");
    demo.arg(root().join("scripts/demo.sh"))
        .current_dir(root())
        .env("BIN", bin())
        .env("OUT", &out)
        .env(
            "SCHEMAS",
            schemas()
                .map(|s| s.display().to_string())
                .unwrap_or_default(),
        );
    if let Some(venv) = interop_venv() {
        demo.env("VENV", venv);
    }
    demo.env("ICECHUNK_VENV", root().join(".venv-icechunk"));
    let ran = demo.output().unwrap();
    assert!(ran.status.success(), "{}", text(&ran));
    let said = text(&ran);
    for words in [
        "oisst.zarr",
        "oisst.refs.json",
        "xr.open_zarr",
        "titiler",
        "7 collections",
        "CMIP6:",
        "Icechunk:",
        "stacforge netcdf to-zarr: append oisst-avhrr-v02r01.20220915.nc",
        "5 done already (would be skipped)",
        "0 written, 5 skipped",
    ] {
        assert!(said.contains(words), "{words}: {said}");
    }
    let catalog = json(&out.join("catalog.json"));
    let children = catalog["links"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["rel"] == "child")
        .count();
    assert_eq!(children, 7);
    assert_schema_valid(&out.join("catalog.json"));
    // What tile servers and dashboards read, on every collection: COGs,
    // stores and references alike.
    for name in [
        "geotiff",
        "modis",
        "oisst-zarr",
        "oisst-refs",
        "oisst-icechunk",
        "cmip6",
        "cmip6-subset",
    ] {
        let collection = json(&out.join(name).join("collection.json"));
        let default = &collection["renders"]["default"];
        assert!(default["assets"].is_array(), "{name}: {collection:#}");
        // The GeoTIFF fixtures mix RGB, paletted and continuous rasters,
        // the CMIP6 ones three variables: no one way to show them all, so
        // only the asset is common (each item has its own render).
        assert!(
            ["geotiff", "cmip6"].contains(&name)
                || default["rescale"].is_array()
                || default["colormap"].is_object()
                || default["variable"].is_string()
                || default["bidx"].as_array().is_some_and(|b| b.len() == 3),
            "{name}: a default render that says how to show the data: {default:#}"
        );
        assert!(
            collection["item_assets"]
                .as_object()
                .is_some_and(|a| !a.is_empty()),
            "{name}"
        );
        assert!(collection["summaries"].is_object(), "{name}");
        assert!(collection["dashboard:is_periodic"].is_boolean(), "{name}");
    }
    let density = |name: &str| {
        json(&out.join(name).join("collection.json"))["dashboard:time_density"].clone()
    };
    assert_eq!(density("oisst-zarr"), "day", "daily files");
    assert_eq!(density("cmip6"), "month", "Amon and SImon datasets");
}

/// `run` writes a cube straight to object storage: every file of the store
/// reaches the bucket (s3s-fs on loopback) with the same bytes as a local
/// run, and the item's metadata checksum holds there; `publish` of a local
/// catalog with a store sends the same objects, and a second publish sends
/// none.
#[test]
fn cubes_go_to_object_storage_whole() {
    let Some(server) = S3Server::start() else {
        return;
    };
    let sources = fixture_files("netcdf", "nc");
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("local");
    let ran = run("netcdf-zarr", &sources, &local, &["--item-id", "sst"]);
    assert!(ran.status.success(), "{}", text(&ran));

    let mut direct = server.stacforge(S3_SECRET_KEY);
    direct.args(["run", "netcdf-zarr"]).args(&sources).args([
        "--out",
        "s3://bucket/direct",
        "--item-id",
        "sst",
    ]);
    let ran = direct.output().unwrap();
    assert!(ran.status.success(), "{}", text(&ran));
    let store = |root: &Path| tree(&root.join("items/sst/sst.zarr"));
    let bucket = server.root.path().join("bucket");
    assert_eq!(store(&bucket.join("direct")), store(&local));
    let item = json(&bucket.join("direct/items/sst/sst.json"));
    assert_eq!(
        item["assets"]["zarr"]["file:checksum"],
        multihash(&bucket.join("direct/items/sst/sst.zarr/zarr.json"))
    );

    for (attempt, sent) in [(1, true), (2, false)] {
        let mut publish = server.stacforge(S3_SECRET_KEY);
        publish.args([
            "publish".to_string(),
            local.display().to_string(),
            "--to".into(),
            "s3://bucket/published".into(),
            "--json".into(),
        ]);
        let ran = publish.output().unwrap();
        assert!(ran.status.success(), "publish {attempt}: {}", text(&ran));
        let report: Value = serde_json::from_slice(&ran.stdout).unwrap();
        let report = &report["files"];
        assert_eq!(
            report["created"].as_array().unwrap().is_empty(),
            !sent,
            "publish {attempt}: {report:#}"
        );
    }
    assert_eq!(store(&bucket.join("published")), store(&local));
}

/// `stacforge new-package` writes a package crate and registers it (the
/// whole flow, `make test` with the new package included, is run by hand
/// in a clean checkout: see the closing note); here, on a copy of
/// the two files it edits: the crate's files are there and formatted, the
/// entry and the dependency are inserted at their markers, the fixtures it
/// writes convert with the built-in packages, and a second call refuses to
/// overwrite.
#[test]
fn new_package_writes_and_registers_a_package() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    std::fs::create_dir_all(repo.join("src")).unwrap();
    std::fs::copy(root().join("Cargo.toml"), repo.join("Cargo.toml")).unwrap();
    std::fs::copy(root().join("src/registry.rs"), repo.join("src/registry.rs")).unwrap();
    for (id, kind, fixture_ext, builtin) in [
        ("demo-cube", "array", "nc", "netcdf-zarr"),
        ("demo-scenes", "raster", "tif", "geotiff"),
    ] {
        let new_package = || {
            stacforge([
                "new-package",
                id,
                "--kind",
                kind,
                "--repo",
                &repo.display().to_string(),
            ])
        };
        let made = new_package();
        assert!(made.status.success(), "{}", text(&made));
        let package = repo.join("packages").join(id);
        for file in [
            "Cargo.toml",
            "src/lib.rs",
            "data/collection.json",
            "tests/package.rs",
        ] {
            assert!(package.join(file).is_file(), "{id}: no {file}");
        }
        let check = std::process::Command::new("rustfmt")
            .args(["--edition", "2021", "--check"])
            .arg(package.join("src/lib.rs"))
            .arg(package.join("tests/package.rs"))
            .arg(repo.join("src/registry.rs"))
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{id}: not formatted: {}",
            text(&check)
        );
        let registry = std::fs::read_to_string(repo.join("src/registry.rs")).unwrap();
        let marker = registry
            .find("stacforge new-package registers packages above this line")
            .unwrap();
        assert!(
            registry[..marker].contains(&format!("id: \"{id}\"")),
            "{registry}"
        );
        let cargo = std::fs::read_to_string(repo.join("Cargo.toml")).unwrap();
        assert!(cargo.contains(&format!("stacforge-{id} = {{ path = \"packages/{id}\" }}")));
        let collection = json(&package.join("data/collection.json"));
        assert_eq!(collection["id"], id);
        let mut fixtures: Vec<PathBuf> = std::fs::read_dir(package.join("fixtures"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == fixture_ext))
            .collect();
        fixtures.sort();
        assert_eq!(fixtures.len(), 2, "{id}");
        let out = dir.path().join(format!("{id}-catalog"));
        let ran = run(builtin, &fixtures, &out, &[]);
        assert!(
            ran.status.success(),
            "{id} fixtures through {builtin}: {}",
            text(&ran)
        );
        let again = new_package();
        assert_fails_saying(&again, 2, &["already exists"]);
    }
}
