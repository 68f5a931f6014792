//! The cmip6 package over the real ESGF files in ../shared/data/cmip6 (in
//! their DRS directory layout) and over its own fixtures: one item per
//! dataset, valid, with the CMIP6 fields of the files' global attributes;
//! xarray (with cftime) reads each store and each set of references as it
//! reads the source files with open_mfdataset; broken datasets are refused
//! naming the files.

mod common;
use common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Every `.nc` under `dir`, sorted.
fn netcdf_under(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = tree(dir)
        .into_iter()
        .map(|(relative, _)| dir.join(relative))
        .filter(|p| p.extension().is_some_and(|e| e == "nc"))
        .collect();
    files.sort();
    files
}

/// The dataset id of a file, from its directories as ESGF lays them out
/// (`<activity>/<institution>/<source>/<experiment>/<member>/<table>/
/// <variable>/<grid>/<version>/`; `files/dYYYYMMDD` is version
/// vYYYYMMDD, `latest` none): the oracle the package's ids are held to.
fn dataset_id(root: &Path, file: &Path) -> String {
    let dirs: Vec<String> = file
        .parent()
        .unwrap()
        .strip_prefix(root)
        .unwrap()
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let mut id = format!("CMIP6.{}", dirs[..8].join("."));
    let version = dirs[8..].join("/");
    if let Some(v) = version.strip_prefix('v') {
        id.push_str(&format!(".v{v}"));
    } else if let Some(d) = version.strip_prefix("files/d") {
        id.push_str(&format!(".v{d}"));
    }
    id
}

fn cmip6_run(sources: &[PathBuf], out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["run".to_string(), "cmip6".into()];
    args.extend(sources.iter().map(|p| p.display().to_string()));
    args.extend(["--out".into(), out.display().to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    stacforge(&args)
}

/// The items of a catalog by id, with their paths.
fn items(catalog: &Path) -> Vec<(String, PathBuf, Value)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(catalog.join("items")).unwrap() {
        let dir = entry.unwrap().path();
        let id = dir.file_name().unwrap().to_string_lossy().into_owned();
        let path = dir.join(format!("{id}.json"));
        let doc = json(&path);
        found.push((id, path, doc));
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

/// Checks, in one Python run, that each output (store or references of the
/// item with that id beside it, `<id>.<suffix>`) reads in xarray as its
/// source files do.
fn assert_reads_as_sources(venv: &Path, found: &[(String, PathBuf, Value)], suffix: &str) {
    let cases: Vec<Value> = (found.iter())
        .map(|(id, path, item)| {
            let output = path.parent().unwrap().join(format!("{id}.{suffix}"));
            serde_json::json!({"output": output, "files": via_files(item)})
        })
        .collect();
    let list = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(list.path(), serde_json::to_vec(&cases).unwrap()).unwrap();
    assert_python_check(venv, "cmip6_equal.py", &[list.path()]);
}

/// The local files an item's `via` links name, in order.
fn via_files(item: &Value) -> Vec<String> {
    item["links"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["rel"] == "via")
        .map(|l| {
            let href = l["href"].as_str().unwrap().trim_start_matches("file://");
            stacforge_core::href::decode(href).unwrap()
        })
        .collect()
}

/// Every ESGF file in ../shared/data/cmip6, run at once: one item per
/// dataset (counted from the directories here), valid against the official
/// schemas (the CMIP6 extension's is not among them: its fields are checked
/// against the files' global attributes, read with netCDF4), the known
/// erratum of the DWD files corrected and said; every store reads in
/// xarray as open_mfdataset reads its files.
#[test]
fn every_esgf_dataset_becomes_one_item_that_xarray_reads_as_its_files() {
    let (Some(data), Some(venv)) = (shared_data(), interop_venv()) else {
        return;
    };
    let root = data.join("cmip6");
    let files = netcdf_under(&root);
    let expected: BTreeSet<String> = files.iter().map(|f| dataset_id(&root, f)).collect();
    assert_eq!(expected.len(), 11, "{expected:#?}");
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("zarr");
    let ran = cmip6_run(&files, &out, &[]);
    assert!(ran.status.success(), "{}", text(&ran));
    let found = items(&out);
    let ids: BTreeSet<String> = found.iter().map(|(id, _, _)| id.clone()).collect();
    assert_eq!(ids, expected);

    assert_schema_valid(&out.join("collection.json"));
    // The collection summarises the facets over its datasets.
    let collection = json(&out.join("collection.json"));
    let models: BTreeSet<String> = (files.iter())
        .map(|f| dataset_id(&root, f).split('.').nth(3).unwrap().to_string())
        .collect();
    let summarised: BTreeSet<String> =
        serde_json::from_value(collection["summaries"]["cmip6:source_id"].clone()).unwrap();
    assert_eq!(summarised, models);
    let mut paths = Vec::new();
    for (id, path, item) in &found {
        assert_schema_valid(path);
        assert!(
            item["stac_extensions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e == stacforge_cmip6::EXTENSION),
            "{id}"
        );
        // The DWD files say table Amon and frequency mon for daily data
        // (PCMDI/cmor#691): corrected, and listed.
        let corrections = &item["properties"]["stacforge:corrections"];
        if id.contains(".DWD.") {
            assert_eq!(item["properties"]["cmip6:table_id"], "day");
            assert_eq!(item["properties"]["cmip6:frequency"], "day");
            assert_eq!(corrections.as_array().unwrap().len(), 2, "{id}");
        } else {
            assert!(corrections.is_null(), "{id}: {corrections}");
        }
        paths.push(path.display().to_string());
    }
    assert_python_check(&venv, "cmip6_fields.py", &paths);

    // The fixed field is dated by its creation; the curvilinear sea-ice
    // grid's footprint comes from its 2-D coordinates.
    let (_, _, fx) = found.iter().find(|(id, _, _)| id.contains(".fx.")).unwrap();
    assert_eq!(
        fx["properties"]["datetime"],
        fx["properties"]["cmip6:creation_date"]
    );
    let (_, _, si) = found
        .iter()
        .find(|(id, _, _)| id.contains(".siconc."))
        .unwrap();
    let bbox: Vec<f64> = serde_json::from_value(si["bbox"].clone()).unwrap();
    assert!(bbox[1] > -80.0 && bbox[3] < 47.0, "{bbox:?}");
    assert!(si["properties"].get("proj:transform").is_none());

    assert_reads_as_sources(&venv, &found, "zarr");
}

/// The same datasets as kerchunk references in fsspec's Parquet layout
/// (what ESGF's compute team asked for) and as JSON: xarray through fsspec
/// reads each as open_mfdataset reads its files, 2-D coordinates, bounds
/// and calendars included.
#[test]
fn every_esgf_dataset_as_references_reads_as_its_files() {
    let (Some(data), Some(venv)) = (shared_data(), interop_venv()) else {
        return;
    };
    let files = netcdf_under(&data.join("cmip6"));
    let work = tempfile::tempdir().unwrap();
    for (format, suffix) in [("parquet", "refs.parq"), ("json", "refs.json")] {
        let out = work.path().join(format);
        let ran = cmip6_run(&files, &out, &["--format", format]);
        assert!(ran.status.success(), "{format}: {}", text(&ran));
        let found = items(&out);
        assert_eq!(found.len(), 11);
        for (_, path, _) in &found {
            assert_schema_valid(path);
        }
        assert_reads_as_sources(&venv, &found, suffix);
    }
}

/// The package's fixtures: three datasets (one of two files, a fixed
/// field, a curvilinear grid), checked like the real ones; and what it
/// must refuse, each refusal naming the files and why.
#[test]
fn fixtures_become_items_and_broken_datasets_are_refused_naming_the_files() {
    let fixtures = root().join("packages/cmip6/fixtures");
    let work = tempfile::tempdir().unwrap();
    let good: Vec<PathBuf> = netcdf_under(&fixtures)
        .into_iter()
        .filter(|p| !p.starts_with(fixtures.join("bad")))
        .collect();
    let out = work.path().join("good");
    let ran = cmip6_run(&good, &out, &[]);
    assert!(ran.status.success(), "{}", text(&ran));
    let found = items(&out);
    let ids: BTreeSet<String> = found.iter().map(|(id, _, _)| id.clone()).collect();
    let expected: BTreeSet<String> = good.iter().map(|f| dataset_id(&fixtures, f)).collect();
    assert_eq!(ids, expected);
    assert_eq!(ids.len(), 3);
    if let Some(venv) = interop_venv() {
        let paths: Vec<String> = found
            .iter()
            .map(|(_, p, _)| p.display().to_string())
            .collect();
        assert_python_check(&venv, "cmip6_fields.py", &paths);
        assert_reads_as_sources(&venv, &found, "zarr");
    }

    for (case, says) in [
        ("gap", "a gap in time: the first ends 185012, so the next should start 185101, but it starts 185201"),
        ("calendars", "calendars differ: noleap and 360_day"),
        ("name", "the file name says variable_id `pr`, its global attribute `variable_id` says `tas`"),
    ] {
        let files = netcdf_under(&fixtures.join("bad").join(case));
        let ran = cmip6_run(&files, &work.path().join(case), &[]);
        assert_eq!(ran.status.code(), Some(1), "{case}: {}", text(&ran));
        let said = text(&ran);
        assert!(said.contains(says), "{case}: {said}");
        for f in &files {
            assert!(said.contains(&f.display().to_string()), "{case} names {}: {said}", f.display());
        }
        // Nothing of the refused dataset is published.
        assert!(!work.path().join(case).join("items").exists() || items(&work.path().join(case)).is_empty());
    }
}

/// One bad dataset among good ones spoils nothing: the good datasets are
/// written, the bad one is reported.
#[test]
fn a_refused_dataset_leaves_the_others_written() {
    let fixtures = root().join("packages/cmip6/fixtures");
    let mut files = netcdf_under(&fixtures.join("CMIP"));
    files.extend(netcdf_under(&fixtures.join("bad/name")));
    let work = tempfile::tempdir().unwrap();
    let ran = cmip6_run(&files, work.path(), &[]);
    assert_eq!(ran.status.code(), Some(1), "{}", text(&ran));
    let found = items(work.path());
    assert_eq!(found.len(), 1, "{}", text(&ran));
    assert!(found[0].0.ends_with(".Amon.tas.gn.v20250101"));
}

/// The fixture generator still writes the committed bytes.
#[test]
fn the_fixture_generator_reproduces_the_fixtures() {
    let Some(venv) = interop_venv() else {
        return;
    };
    let fixtures = root().join("packages/cmip6/fixtures");
    let dir = tempfile::tempdir().unwrap();
    let run = std::process::Command::new(venv.join("bin/python"))
        .arg(fixtures.join("generate.py"))
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", text(&run));
    let committed: Vec<_> = tree(&fixtures)
        .into_iter()
        .filter(|(p, _)| p.extension().is_some_and(|e| e == "nc"))
        .collect();
    assert_eq!(
        tree(dir.path()),
        committed,
        "regenerate the fixtures and commit them"
    );
}

/// Subsets on the way (`--bbox`, `--time`, `--level`) equal xarray's
/// selection of the same bounds on the source files: a regular grid with
/// pressure levels (and a box in negative longitudes on its 0–360 grid), a
/// curvilinear sea-ice grid in a noleap calendar, and a 360-day calendar
/// (30 February is a day there). The item says what was kept.
#[test]
fn subsets_equal_xarrays_selection_of_the_sources() {
    let (Some(data), Some(venv)) = (shared_data(), interop_venv()) else {
        return;
    };
    let root = data.join("cmip6");
    let cases = [
        (
            "ScenarioMIP/MIROC/MIROC6/ssp119/r1i1p1f1/Amon/ta/gn/files/d20190807",
            "0,-30,200,80",
            "2016-01-01/2018-12-31",
            "85000/20000",
        ),
        (
            "ScenarioMIP/MIROC/MIROC6/ssp119/r1i1p1f1/Amon/ta/gn/files/d20190807",
            "-60,-90,-10,90",
            "-",
            "-",
        ),
        (
            "CMIP/SNU/SAM0-UNICON/historical/r1i1p1f1/SImon/siconc/gn/latest",
            "-60,-30,0,50",
            "1860-03-01/1875-06-30",
            "-",
        ),
        (
            "DCPP/MOHC/HadGEM3-GC31-MM/dcppA-hindcast/s2004-r3i1p1f2/Amon/pr/gn/v20200417",
            "-",
            "2005-02-30/2006-02-30",
            "-",
        ),
    ];
    let work = tempfile::tempdir().unwrap();
    for (n, (dir, bbox, time, level)) in cases.iter().enumerate() {
        let files = netcdf_under(&root.join(dir));
        let mut extra = Vec::new();
        for (flag, value) in [("--bbox", bbox), ("--time", time), ("--level", level)] {
            if *value != "-" {
                extra.extend([flag.to_string(), value.to_string()]);
            }
        }
        let out = work.path().join(format!("case{n}"));
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let ran = cmip6_run(&files, &out, &extra);
        assert!(ran.status.success(), "{dir} {extra:?}: {}", text(&ran));
        let found = items(&out);
        assert_eq!(found.len(), 1);
        let (id, path, item) = &found[0];
        assert_schema_valid(path);
        let subset = item["properties"]["stacforge:subset"].as_str().unwrap();
        let lineage = item["properties"]["processing:lineage"].as_str().unwrap();
        assert!(
            lineage.ends_with(&format!("then cut to {subset}")),
            "{lineage}"
        );
        let store = path.parent().unwrap().join(format!("{id}.zarr"));
        let mut args = vec![
            store.display().to_string(),
            bbox.to_string(),
            time.to_string(),
            level.to_string(),
        ];
        args.extend(via_files(item));
        assert_python_check(&venv, "cmip6_subset.py", &args);
    }

    // A box that selects nothing, and one across the grid's seam, are
    // refused saying so; references cannot be cut.
    let files = netcdf_under(&root.join(cases[0].0));
    for (extra, says) in [
        (
            vec!["--bbox", "10,-89.5,20,-89"],
            "no grid cell centre inside it",
        ),
        (vec!["--bbox", "-10,-30,10,30"], "cross the grid's seam"),
        (
            vec!["--time", "2030-01-01/2031-01-01"],
            "no time step in that range",
        ),
        (
            vec!["--level", "1/2", "--format", "json"],
            "write a Zarr store",
        ),
    ] {
        let ran = cmip6_run(&files, &work.path().join("refused"), &extra);
        assert_eq!(ran.status.code(), Some(1), "{extra:?}: {}", text(&ran));
        assert!(text(&ran).contains(says), "{extra:?}: {}", text(&ran));
    }
}

/// The item with its time of writing left out.
fn stable_item(path: &Path) -> Value {
    let mut doc = json(path);
    doc["properties"]["created"] = Value::Null;
    doc
}

/// A dataset that grows: the later files of a multi-file dataset appended
/// to the store built from the earlier ones (only they are read) give the
/// store and item that building from all of them gives, byte for byte;
/// running again changes nothing; files from before the store's end are
/// refused, naming the file and the store, and the published store stays
/// as it was.
#[test]
fn appending_later_files_equals_building_from_all_of_them() {
    let Some(data) = shared_data() else {
        return;
    };
    let files = netcdf_under(&data.join(
        "cmip6/DCPP/MOHC/HadGEM3-GC31-MM/dcppA-hindcast/s2004-r3i1p1f2/Amon/pr/gn/v20200417",
    ));
    assert_eq!(files.len(), 6);
    let work = tempfile::tempdir().unwrap();
    let (grown, whole) = (work.path().join("grown"), work.path().join("whole"));
    let first = cmip6_run(&files[..4], &grown, &[]);
    assert!(first.status.success(), "{}", text(&first));
    let appended = cmip6_run(&files, &grown, &[]);
    assert!(appended.status.success(), "{}", text(&appended));
    assert!(
        text(&appended).contains("2 new file(s) appended to the published store, 4 already in it"),
        "{}",
        text(&appended)
    );
    let built = cmip6_run(&files, &whole, &[]);
    assert!(built.status.success(), "{}", text(&built));
    let (id, grown_item, _) = items(&grown).remove(0);
    let (_, whole_item, _) = items(&whole).remove(0);
    let store = |catalog: &Path| tree(&catalog.join("items").join(&id).join(format!("{id}.zarr")));
    assert!(store(&grown) == store(&whole), "the appended store differs");
    assert_eq!(stable_item(&grown_item), stable_item(&whole_item));

    let again = cmip6_run(&files, &grown, &[]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        text(&again).contains("0 written, 1 skipped"),
        "{}",
        text(&again)
    );
    assert!(store(&grown) == store(&whole));

    // Only the new files given: appended all the same.
    let newer = work.path().join("newer");
    let first = cmip6_run(&files[..4], &newer, &[]);
    assert!(first.status.success(), "{}", text(&first));
    let later = cmip6_run(&files[4..], &newer, &[]);
    assert!(
        text(&later).contains("2 new file(s) appended"),
        "{}",
        text(&later)
    );
    assert!(
        store(&newer) == store(&whole),
        "appending only the new files differs"
    );
    // Other options (another Zarr version) write the store again.
    let v2 = cmip6_run(&files, &newer, &["--zarr-version", "2"]);
    assert!(v2.status.success(), "{}", text(&v2));
    assert!(!text(&v2).contains("appended"), "{}", text(&v2));
    assert!(store(&newer).iter().any(|(p, _)| p.ends_with(".zmetadata")));

    // Earlier files than the store holds: refused, nothing changed.
    let late = work.path().join("late");
    let ran = cmip6_run(&files[2..], &late, &[]);
    assert!(ran.status.success(), "{}", text(&ran));
    let before = store(&late);
    let early = cmip6_run(&files[..2], &late, &[]);
    assert_eq!(early.status.code(), Some(1), "{}", text(&early));
    let said = text(&early);
    assert!(said.contains(&files[0].display().to_string()), "{said}");
    assert!(
        said.contains("only add files after the dataset's end"),
        "{said}"
    );
    assert!(
        said.contains(&late.join("items").join(&id).display().to_string()),
        "{said}"
    );
    assert!(store(&late) == before, "a refused append changed the store");
}
