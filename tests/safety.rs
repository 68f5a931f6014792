//! Data safety: one test per defect of the hostile-testing round (issue 12),
//! numbered as the issue numbers them. Each fails on the code before the fix.

mod common;

use common::*;
use gdal::Metadata;
use serde_json::Value;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

fn to_zarr(sources: &[&Path], out: &Path, extra: &[&str]) -> std::process::Output {
    netcdf("to-zarr", sources, out, extra)
}

fn to_refs(sources: &[&Path], out: &Path, extra: &[&str]) -> std::process::Output {
    netcdf("to-refs", sources, out, extra)
}

/// The interop venv and the shared data, or `None` (the test then skips,
/// saying so; CI has both).
fn venv_and_data() -> Option<(PathBuf, PathBuf)> {
    Some((interop_venv()?, shared_data()?))
}

/// Defect 1: Appends check the grid by value, as a batch does: a file whose
/// longitudes are reversed, whose latitudes are shifted by half a cell, or
/// that has a NaN latitude is refused, naming both files, for Zarr stores
/// and references alike; nothing changes.
/// `stacforge publish CAT --to s3://bucket/cat` against the test server.
fn publish_to_bucket(server: &S3Server, cat: &Path) -> std::process::Output {
    server
        .stacforge(S3_SECRET_KEY)
        .args(["publish"])
        .arg(cat)
        .args(["--to", "s3://bucket/cat"])
        .output()
        .unwrap()
}

#[test]
fn d01_appends_check_the_grid_by_value() {
    let Some((venv, data)) = venv_and_data() else {
        return;
    };
    let (t1, t2, _) = air_series(&data);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.zarr");
    let refs = dir.path().join("r.json");
    assert!(to_zarr(&[&t1], &store, &[]).status.success());
    assert!(to_refs(&[&t1], &refs, &[]).status.success());
    let (store_before, refs_before) = (tree(&store), std::fs::read(&refs).unwrap());
    for (kind, what) in [
        ("reverse-lon", "`lon`"),
        ("shift-lat", "`lat`"),
        ("nan-lat", "`lat`"),
    ] {
        let bad = dir.path().join(format!("split2-{kind}.nc"));
        make_bad_netcdf(&venv, kind, &t2, &bad);
        for (out, verb) in [(&store, "to-zarr"), (&refs, "to-refs")] {
            let run = netcdf(verb, &[&bad], out, &["--append"]);
            let said = text(&run);
            assert_eq!(run.status.code(), Some(1), "{kind} {verb}: {said}");
            assert!(
                said.contains(what) && said.contains(&format!("split2-{kind}.nc")),
                "{said}"
            );
            if kind != "nan-lat" {
                // Both files: the one the store's grid came from, and the new one.
                assert!(said.contains("split_time1.nc"), "{said}");
            } else {
                assert!(said.contains("no value (NaN) at index 3"), "{said}");
            }
            // The batch refuses the same file with the same check.
            let batch = netcdf(verb, &[&t1, &bad], &dir.path().join("batch"), &[]);
            assert_eq!(batch.status.code(), Some(1), "{}", text(&batch));
        }
    }
    assert_eq!(tree(&store), store_before);
    assert_eq!(std::fs::read(&refs).unwrap(), refs_before);
}

/// Defect 2: Truncated classic files are refused, naming the file, by every verb:
/// records missing (a record file cut at 90%) and a non-record file cut at
/// 60%; NetCDF-4 files cut short too. Nothing is written.
#[test]
fn d02_truncated_netcdf_files_are_refused() {
    let Some((venv, data)) = venv_and_data() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let records = dir.path().join("bcsd-cut.nc");
    truncate_copy(&data.join("netcdf/nc3/bcsd_obs_1999.nc"), &records, 0.9);
    let fixed_whole = dir.path().join("fixed.nc");
    make_bad_netcdf(&venv, "classic-fixed", &fixed_whole, &fixed_whole);
    let fixed = dir.path().join("fixed-cut.nc");
    truncate_copy(&fixed_whole, &fixed, 0.6);
    let nc4 = dir.path().join("oisst-cut.nc");
    truncate_copy(
        &data.join("netcdf/nc4/oisst-avhrr-v02r01.20220913.nc"),
        &nc4,
        0.7,
    );
    for bad in [&records, &fixed, &nc4] {
        for (verb, out) in [
            ("to-cog", "cat"),
            ("to-zarr", "s.zarr"),
            ("to-refs", "r.json"),
        ] {
            let out = dir.path().join("out").join(out);
            let run = netcdf(verb, &[bad], &out, &[]);
            let said = text(&run);
            assert_eq!(
                run.status.code(),
                Some(1),
                "{verb} {}: {said}",
                bad.display()
            );
            assert!(said.contains(&bad.display().to_string()), "{said}");
            assert!(
                said.contains("truncated"),
                "{verb} {}: {said}",
                bad.display()
            );
            assert!(
                names(&dir.path().join("out"))
                    .iter()
                    .all(|n| !n.ends_with(".tif") && !n.ends_with(".json") && !n.contains("zarr")),
                "{verb}: {:?}",
                names(&dir.path().join("out"))
            );
        }
    }
    // The whole files are fine.
    let out = dir.path().join("whole.zarr");
    assert!(to_zarr(&[&fixed_whole], &out, &[]).status.success());
}

/// Defect 3: Outputs replace only what stacforge made, never a source, and say
/// what they would have replaced.
#[test]
fn d03_outputs_never_replace_what_stacforge_did_not_make() {
    let Some(data) = shared_data() else { return };
    let (t1, t2, _) = air_series(&data);
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    for t in [&t1, &t2] {
        std::fs::copy(t, src.join(t.file_name().unwrap())).unwrap();
    }
    let s1 = src.join(t1.file_name().unwrap());
    let s2 = src.join(t2.file_name().unwrap());
    let sources_before = tree(&src);
    // to-refs SRC --out SRC
    let run = to_refs(&[&s1], &s1, &[]);
    assert_fails_saying(&run, 2, &["destroy the source"]);
    // to-zarr --out <the sources' folder> --overwrite
    let run = to_zarr(&[&s1, &s2], &src, &["--overwrite"]);
    assert_fails_saying(&run, 1, &["replaces only a Zarr store stacforge wrote"]);
    assert_eq!(tree(&src), sources_before, "the sources are untouched");
    // --format parquet --out DIR that holds other files
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("notes.txt"), b"keep me").unwrap();
    let run = to_refs(&[&s1], &other, &["--format", "parquet"]);
    assert_fails_saying(&run, 1, &["not a Parquet reference set"]);
    assert_eq!(std::fs::read(other.join("notes.txt")).unwrap(), b"keep me");
    // A JSON --out that is not references.
    let mine = dir.path().join("mine.json");
    std::fs::write(&mine, b"{\"mine\": true}").unwrap();
    let run = to_refs(&[&s1], &mine, &[]);
    assert_eq!(run.status.code(), Some(2), "{}", text(&run));
    assert_eq!(std::fs::read(&mine).unwrap(), b"{\"mine\": true}");
    // What stacforge made is replaced: references, a store, a Parquet set.
    let refs = dir.path().join("r.json");
    assert!(to_refs(&[&s1], &refs, &[]).status.success());
    assert!(to_refs(&[&s1, &s2], &refs, &[]).status.success());
    let store = dir.path().join("s.zarr");
    assert!(to_zarr(&[&s1], &store, &[]).status.success());
    assert!(to_zarr(&[&s1, &s2], &store, &["--overwrite"])
        .status
        .success());
    let parq = dir.path().join("r.parq");
    assert!(to_refs(&[&s1], &parq, &["--format", "parquet"])
        .status
        .success());
    assert!(to_refs(&[&s1, &s2], &parq, &["--format", "parquet"])
        .status
        .success());
    // export CAT CAT/collection.json
    let cat = dir.path().join("cat");
    let run = create_items(&[fixtures().join("geotiff/dem_utm33.tif")], &cat, &[]);
    assert!(run.status.success(), "{}", text(&run));
    let before = tree(&cat);
    for target in ["collection.json", "items/dem_utm33/dem_utm33.json"] {
        let run = stacforge([
            "export".as_ref(),
            cat.as_os_str(),
            cat.join(target).as_os_str(),
        ]);
        assert_ne!(run.status.code(), Some(0), "{}", text(&run));
        assert!(text(&run).contains("destroy the catalog"), "{}", text(&run));
    }
    assert_eq!(tree(&cat), before);
}

/// Makes a one-item catalog of a fixture in `dir/cat`; returns it and the item.
fn one_item_catalog(dir: &Path) -> (PathBuf, PathBuf) {
    let cat = dir.join("cat");
    let run = create_items(&[fixtures().join("geotiff/dem_utm33.tif")], &cat, &[]);
    assert!(run.status.success(), "{}", text(&run));
    let item = cat.join("items/dem_utm33/dem_utm33.json");
    (cat, item)
}

fn publish(cat: &Path, to: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "publish".into(),
        cat.display().to_string(),
        "--to".into(),
        to.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    stacforge(args)
}

/// Defect 4: publish refuses symlinks that leave the catalog and absolute local
/// hrefs (unless --allow-external), and checks every asset's size and
/// checksum against its item before anything of that item is sent.
#[test]
fn d04_publish_refuses_links_out_of_the_catalog_and_changed_assets() {
    let dir = tempfile::tempdir().unwrap();
    let (cat, item_path) = one_item_catalog(dir.path());
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, b"not for publishing").unwrap();
    let thumb = cat.join("items/dem_utm33/dem_utm33.png");
    let thumb_bytes = std::fs::read(&thumb).unwrap();

    // A symlinked asset pointing outside.
    std::fs::remove_file(&thumb).unwrap();
    std::os::unix::fs::symlink(&secret, &thumb).unwrap();
    let to = dir.path().join("published");
    let run = publish(&cat, &to, &[]);
    assert_fails_saying(&run, 2, &["outside the catalog"]);
    assert!(names(&to).is_empty(), "nothing written: {:?}", names(&to));
    // The same to object storage: nothing reaches the bucket.
    if let Some(server) = S3Server::start() {
        let run = publish_to_bucket(&server, &cat);
        assert_eq!(run.status.code(), Some(2), "{}", text(&run));
        assert!(text(&run).contains("outside the catalog"), "{}", text(&run));
        assert!(names(&server.root.path().join("bucket")).is_empty());
    }
    std::fs::remove_file(&thumb).unwrap();
    std::fs::write(&thumb, &thumb_bytes).unwrap();

    // Absolute-path and file:// hrefs.
    let original = std::fs::read(&item_path).unwrap();
    for href in [
        secret.display().to_string(),
        format!("file://{}", secret.display()),
    ] {
        let mut item: Value = serde_json::from_slice(&original).unwrap();
        item["assets"]["extra"] = serde_json::json!({"href": href, "roles": ["metadata"]});
        std::fs::write(&item_path, serde_json::to_vec(&item).unwrap()).unwrap();
        let run = publish(&cat, &to, &[]);
        assert_eq!(run.status.code(), Some(2), "{}", text(&run));
        assert!(text(&run).contains("--allow-external"), "{}", text(&run));
        assert!(names(&to).is_empty(), "{:?}", names(&to));
        let run = publish(&cat, &to, &["--allow-external"]);
        assert!(run.status.success(), "{}", text(&run));
        assert!(text(&run).contains("kept as is"), "{}", text(&run));
        assert!(
            !names(&to).iter().any(|n| n.contains("secret")),
            "{:?}",
            names(&to)
        );
        std::fs::remove_dir_all(&to).unwrap();
    }
    std::fs::write(&item_path, &original).unwrap();

    // A thumbnail changed in place (same size) after the item was written:
    // its bytes are checked against the item before upload.
    let mut changed = thumb_bytes.clone();
    let last = changed.len() - 20;
    changed[last] ^= 0xff;
    std::fs::write(&thumb, &changed).unwrap();
    let run = publish(&cat, &to, &[]);
    assert_fails_saying(&run, 1, &["does not match its file:checksum"]);
    // Neither the changed file, nor its item, nor the collection is there
    // (the COG, checked good, may be).
    assert!(
        !names(&to).iter().any(|n| n.ends_with(".png")
            || n.ends_with("dem_utm33.json")
            || n == "collection.json"),
        "{:?}",
        names(&to)
    );
    std::fs::write(&thumb, &thumb_bytes).unwrap();
    let _ = std::fs::remove_dir_all(&to);

    // A COG truncated after the item was written: that item is not published.
    let cog = cat.join("items/dem_utm33/dem_utm33.tif");
    truncate_copy(&cog.clone(), &cog, 0.5);
    let run = publish(&cat, &to, &[]);
    assert_fails_saying(&run, 1, &["changed after the item was written"]);
    assert!(
        !names(&to)
            .iter()
            .any(|n| n.ends_with(".tif") || n.ends_with("json")),
        "{:?}",
        names(&to)
    );
}

/// Defect 5: Names with non-ASCII letters, `%`, `#` and `?`: the item, its COG and
/// its thumbnail stay together, hrefs are percent-encoded, and validate
/// and publish take the catalog as it is.
#[test]
fn d05_names_with_reserved_characters_keep_an_item_together() {
    let dir = tempfile::tempdir().unwrap();
    let name = "dém 100%#1?";
    let src = dir.path().join(format!("{name}.tif"));
    std::fs::copy(fixtures().join("geotiff/dem_utm33.tif"), &src).unwrap();
    let cat = dir.path().join("cat");
    let run = create_items(&[&src], &cat, &[]);
    assert!(run.status.success(), "{}", text(&run));
    let item_dir = cat.join("items").join(name);
    let mut files = std::fs::read_dir(&item_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect::<Vec<_>>();
    files.sort();
    assert_eq!(
        files,
        [
            format!("{name}.json"),
            format!("{name}.png"),
            format!("{name}.tif")
        ]
    );
    let item = json(&item_dir.join(format!("{name}.json")));
    assert_eq!(item["id"], name);
    assert_eq!(
        item["assets"]["data"]["href"],
        "./d%C3%A9m%20100%25%231%3F.tif"
    );
    let collection = json(&cat.join("collection.json"));
    assert!(collection["links"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["href"] == "./items/d%C3%A9m%20100%25%231%3F/d%C3%A9m%20100%25%231%3F.json"));
    if let Some(schemas) = schemas() {
        let run = stacforge([
            "validate".as_ref(),
            "--schemas".as_ref(),
            schemas.as_os_str(),
            cat.as_os_str(),
        ]);
        assert!(run.status.success(), "{}", text(&run));
    }
    let to = dir.path().join("published");
    let run = publish(&cat, &to, &[]);
    assert!(run.status.success(), "{}", text(&run));
    let published = to.join("items").join(name).join(format!("{name}.tif"));
    assert_same_pixels(&published, &fixtures().join("geotiff/dem_utm33.tif"));
    // In object storage the keys are the names too (not percent-encoded).
    if let Some(server) = S3Server::start() {
        let run = publish_to_bucket(&server, &cat);
        assert!(run.status.success(), "{}", text(&run));
        let key = server
            .root
            .path()
            .join("bucket/cat/items")
            .join(name)
            .join(format!("{name}.json"));
        assert!(
            key.is_file(),
            "{:?}",
            names(&server.root.path().join("bucket"))
        );
    }
}

/// Defect 6: Two appends at once to one store: the second waits for the
/// first, and no step is lost whichever goes first; two create-item
/// runs into one catalog keep each other's items in the collection.
#[test]
fn d06_concurrent_writers_do_not_lose_updates() {
    let Some((venv, data)) = venv_and_data() else {
        return;
    };
    let (t1, t2, _) = air_series(&data);
    let dir = tempfile::tempdir().unwrap();
    let t3 = dir.path().join("split3.nc");
    make_bad_netcdf(&venv, "later", &t2, &t3);
    for round in 0..3 {
        let store = dir.path().join(format!("s{round}.zarr"));
        assert!(to_zarr(&[&t1], &store, &[]).status.success());
        let spawn = |sources: &[&Path]| {
            Command::new(bin())
                .args(["netcdf", "to-zarr"])
                .args(sources)
                .arg("--out")
                .arg(&store)
                .arg("--append")
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let a = spawn(&[&t2]);
        let b = spawn(&[&t2, &t3]);
        for child in [a, b] {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", text(&out));
        }
        let zarr = json(&store.join("zarr.json"));
        let sources = zarr["attributes"]["stacforge"]["sources"]
            .as_array()
            .unwrap();
        assert_eq!(sources.len(), 3, "round {round}: {sources:?}");
        let time = json(&store.join("time/zarr.json"));
        assert_eq!(time["shape"], serde_json::json!([6]));
        assert!(!dir
            .path()
            .join(format!(".s{round}.zarr.stacforge-lock"))
            .exists());
    }
    // Catalogs: four runs at once, four items in the collection.
    let cat = dir.path().join("cat");
    let fixtures: Vec<PathBuf> = tifs(&fixtures().join("geotiff"))
        .into_iter()
        .take(4)
        .collect();
    let children: Vec<_> = fixtures
        .iter()
        .map(|f| {
            Command::new(bin())
                .args(["geotiff", "create-item"])
                .arg(f)
                .arg("--out")
                .arg(&cat)
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
    }
    let links = json(&cat.join("collection.json"))["links"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["rel"] == "item")
        .count();
    assert_eq!(links, fixtures.len());
}

/// Defect 7: A kill inside an append's metadata commit leaves the store as it was
/// for readers (xarray opens it, equal to the source), with no temporary
/// files inside; the re-run gives the uninterrupted store byte for byte.
#[test]
fn d07_a_kill_inside_the_append_commit_leaves_a_readable_store() {
    let Some((venv, data)) = venv_and_data() else {
        return;
    };
    let (t1, t2, full) = air_series(&data);
    let dir = tempfile::tempdir().unwrap();
    let once = dir.path().join("once.zarr");
    assert!(to_zarr(&[&t1, &t2], &once, &[]).status.success());
    let store = dir.path().join("s.zarr");
    assert!(to_zarr(&[&t1], &store, &[]).status.success());
    let before = tree(&store);
    // The metadata documents are the last atomic writes of the append:
    // kill after the first of them (the per-array documents come first).
    let chunks_and_docs = {
        let probe = dir.path().join("probe.zarr");
        assert!(to_zarr(&[&t1], &probe, &[]).status.success());
        let mut n = 1;
        loop {
            let run = Command::new(bin())
                .args(["netcdf", "to-zarr"])
                .arg(&t2)
                .arg("--out")
                .arg(&probe)
                .arg("--append")
                .env("STACFORGE_CRASH_AT", format!("write-atomic:{n}"))
                .output()
                .unwrap();
            if run.status.success() {
                break n - 1;
            }
            std::fs::remove_dir_all(&probe).unwrap();
            assert!(to_zarr(&[&t1], &probe, &[]).status.success());
            n += 1;
        }
    };
    assert!(chunks_and_docs > 2, "{chunks_and_docs}");
    let run = Command::new(bin())
        .args(["netcdf", "to-zarr"])
        .arg(&t2)
        .arg("--out")
        .arg(&store)
        .arg("--append")
        .env(
            "STACFORGE_CRASH_AT",
            format!("write-atomic:{}", chunks_and_docs - 1),
        )
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(137), "{}", text(&run));
    assert_eq!(tree(&store), before, "readers see the old store");
    assert_python_check(&venv, "xarray_equal.py", &[t1.as_path(), store.as_path()]);
    let run = to_zarr(&[&t2], &store, &["--append"]);
    assert!(run.status.success(), "{}", text(&run));
    assert_eq!(tree(&store), tree(&once));
    assert_python_check(&venv, "xarray_equal.py", &[full.as_path(), store.as_path()]);
    assert!(!names(&store).iter().any(|n| n.contains("stacforge-tmp")));
}

/// Defect 8: What interrupted runs leave is cleaned: staging beside a store
/// (next run), work folders after SIGTERM, and an interrupted publish is
/// finished without re-sending what it had sent.
#[test]
fn d08_leftovers_are_cleaned_and_publish_resumes() {
    let Some(data) = shared_data() else { return };
    let (t1, t2, _) = air_series(&data);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.zarr");
    assert!(to_zarr(&[&t1], &store, &[]).status.success());
    // A killed run's staging (its process, 4194304 + 1, cannot exist).
    for tag in ["stacforge-new", "stacforge-append"] {
        let stale = dir.path().join(format!(".s.zarr.{tag}-4194305"));
        std::fs::create_dir_all(stale.join("air")).unwrap();
    }
    let run = to_zarr(&[&t2], &store, &["--append"]);
    assert!(run.status.success(), "{}", text(&run));
    assert!(
        text(&run).contains("left by an interrupted run"),
        "{}",
        text(&run)
    );
    assert_eq!(
        names(dir.path())
            .iter()
            .filter(|n| n.starts_with('.'))
            .count(),
        0
    );

    // SIGTERM in the middle of a conversion: the work folder and the
    // partial COG go with it.
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let big = dir.path().join("big.tif");
    write_noise_raster(&big, 6000);
    let cat = dir.path().join("cat");
    let mut child = Command::new(bin())
        .args(["geotiff", "create-item"])
        .arg(&big)
        .arg("--out")
        .arg(&cat)
        .env("TMPDIR", &tmp)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the work has started (the work folder exists).
    let started = std::time::Instant::now();
    while std::fs::read_dir(&tmp).unwrap().count() == 0 {
        assert!(started.elapsed().as_secs() < 30, "the run never started");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    // SAFETY: sends SIGTERM to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait().unwrap();
    assert_eq!(out.code(), Some(128 + libc::SIGTERM), "{out:?}");
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "work folder removed"
    );
    assert!(
        !names(&cat)
            .iter()
            .any(|n| n.contains("partial") || n.ends_with(".tif")),
        "{:?}",
        names(&cat)
    );

    // An interrupted publish, finished by the re-run.
    let cat = dir.path().join("cat2");
    let sources = tifs(&fixtures().join("geotiff"));
    assert!(create_items(&sources, &cat, &[]).status.success());
    let to = dir.path().join("published");
    let run = stacforge_env(
        &[
            "publish",
            &cat.display().to_string(),
            "--to",
            &to.display().to_string(),
        ],
        &[("STACFORGE_CRASH_AT", "put:7")],
    );
    assert_eq!(run.status.code(), Some(137), "{}", text(&run));
    let run = publish(&cat, &to, &["--json"]);
    assert!(run.status.success(), "{}", text(&run));
    let report: Value = serde_json::from_slice(&run.stdout).unwrap();
    let updated = report["files"]["updated"].as_array().unwrap().len();
    assert!(
        updated <= 1,
        "the re-run re-sent {updated} objects: {report}"
    );
    assert!(
        !names(&to)
            .iter()
            .any(|n| n.contains("stacforge-tmp") || n.contains('#')),
        "{:?}",
        names(&to)
    );
}

/// Runs stacforge with extra environment variables.
fn stacforge_env(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(bin());
    command.args(args);
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

/// A `size` x `size` one-band float raster of noise (slow to compress),
/// georeferenced in UTM.
fn write_noise_raster(path: &Path, size: usize) {
    let driver = gdal::DriverManager::get_driver_by_name("GTiff").unwrap();
    let mut ds = driver
        .create_with_band_type::<f32, _>(path, size, size, 1)
        .unwrap();
    ds.set_geo_transform(&[500000.0, 10.0, 0.0, 4000000.0, 0.0, -10.0])
        .unwrap();
    ds.set_spatial_ref(&gdal::spatial_ref::SpatialRef::from_epsg(32633).unwrap())
        .unwrap();
    ds.set_metadata_item("TIFFTAG_DATETIME", "2020:01:01 00:00:00", "")
        .unwrap();
    let mut state = 12345u64;
    let values: Vec<f32> = (0..size * size)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            (state >> 40) as f32
        })
        .collect();
    let mut buffer = gdal::raster::Buffer::new((size, size), values);
    ds.rasterband(1)
        .unwrap()
        .write((0, 0), (size, size), &mut buffer)
        .unwrap();
}

/// Defect 9: Classic and NetCDF-4 files in one reference set are refused, naming
/// both (their chunks cannot share one description); an append of one
/// kind to references of the other is refused too.
#[test]
fn d09_classic_and_netcdf4_files_do_not_share_references() {
    let Some((venv, data)) = venv_and_data() else {
        return;
    };
    let (t1, t2, _) = air_series(&data);
    let dir = tempfile::tempdir().unwrap();
    let classic = dir.path().join("split2-classic.nc");
    make_bad_netcdf(&venv, "classic", &t2, &classic);
    let refs = dir.path().join("r.json");
    let run = to_refs(&[&t1, &classic], &refs, &[]);
    let said = text(&run);
    assert_eq!(run.status.code(), Some(1), "{said}");
    assert!(
        said.contains("split2-classic.nc")
            && said.contains("split_time1.nc")
            && said.contains("classic NetCDF"),
        "{said}"
    );
    assert!(!refs.exists());
    assert!(to_refs(&[&t1], &refs, &[]).status.success());
    let before = std::fs::read(&refs).unwrap();
    let run = to_refs(&[&classic], &refs, &["--append"]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    assert_eq!(std::fs::read(&refs).unwrap(), before);
    // Each kind alone reads back as its source.
    let alone = dir.path().join("classic.json");
    assert!(to_refs(&[&classic], &alone, &[]).status.success());
    assert_python_check(
        &venv,
        "refs_equal.py",
        &[classic.as_path(), alone.as_path()],
    );
}

/// Defect 10: A COG whose tiles lie past the end of the file is refused by
/// validate, info and create-item --in-place.
#[test]
fn d10_truncated_cogs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cog = dir.path().join("whole.tif");
    let run = stacforge([
        "cogify".as_ref(),
        fixtures().join("geotiff/dem_utm33.tif").as_os_str(),
        cog.as_os_str(),
    ]);
    assert!(run.status.success(), "{}", text(&run));
    let cut = dir.path().join("cut.tif");
    truncate_copy(&cog, &cut, 0.6);
    let run = stacforge(["validate".as_ref(), cut.as_os_str()]);
    assert_fails_saying(&run, 1, &["past the end of the file"]);
    let run = stacforge(["info".as_ref(), cut.as_os_str()]);
    assert_fails_saying(&run, 1, &["truncated"]);
    let cat = dir.path().join("cat");
    let run = create_items(&[&cut], &cat, &["--in-place"]);
    assert_fails_saying(&run, 1, &["cut.tif"]);
    assert!(!cat.join("items/cut").exists());
    // The whole file is accepted by all three.
    assert!(stacforge(["validate".as_ref(), cog.as_os_str()])
        .status
        .success());
    assert!(create_items(&[&cog], &cat, &["--in-place"])
        .status
        .success());
}

/// Defect 11: Credentials inside URLs never appear in messages.
#[test]
fn d11_credentials_in_urls_are_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let (cat, _) = one_item_catalog(dir.path());
    let secret = "PASSWORD123";
    let runs = [
        stacforge_env(
            &[
                "publish",
                &cat.display().to_string(),
                "--to",
                "s3://bucket/x",
                "--s3-endpoint",
                &format!("http://user:{secret}@127.0.0.1:9"),
            ],
            &[
                ("AWS_ACCESS_KEY_ID", "test"),
                ("AWS_SECRET_ACCESS_KEY", "test"),
                ("AWS_REGION", "us-east-1"),
                ("AWS_EC2_METADATA_DISABLED", "true"),
            ],
        ),
        stacforge_env(
            &[
                "publish",
                &cat.display().to_string(),
                "--to-api",
                &format!("http://user:{secret}@127.0.0.1:9"),
                "--public-url",
                "https://data.example.org/x",
            ],
            &[],
        ),
    ];
    for run in runs {
        assert!(!run.status.success(), "{}", text(&run));
        assert!(!text(&run).contains(secret), "{}", text(&run));
        assert!(text(&run).contains("***@127.0.0.1:9"), "{}", text(&run));
    }
}

/// Defect 12: A raster claiming 200000 x 200000 pixels is refused up front,
/// before any work or temporary file, saying how to raise the limit.
#[test]
fn d12_an_enormous_raster_is_refused_up_front() {
    let dir = tempfile::tempdir().unwrap();
    let huge = dir.path().join("huge.tif");
    {
        let driver = gdal::DriverManager::get_driver_by_name("GTiff").unwrap();
        let options = gdal::raster::RasterCreationOptions::from_iter([
            "SPARSE_OK=TRUE",
            "TILED=YES",
            "BIGTIFF=YES",
        ]);
        let mut ds = driver
            .create_with_band_type_with_options::<u8, _>(&huge, 200_000, 200_000, 1, &options)
            .unwrap();
        ds.set_geo_transform(&[0.0, 1.0, 0.0, 0.0, 0.0, -1.0])
            .unwrap();
        ds.set_spatial_ref(&gdal::spatial_ref::SpatialRef::from_epsg(32633).unwrap())
            .unwrap();
    }
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let run = stacforge([
        "cogify".as_ref(),
        huge.as_os_str(),
        out.join("huge-cog.tif").as_os_str(),
    ]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    assert!(
        text(&run).contains("200000 x 200000") && text(&run).contains("STACFORGE_MAX_RASTER_GB"),
        "{}",
        text(&run)
    );
    assert!(names(&out).is_empty(), "{:?}", names(&out));
    // The limit is configurable: a tiny one refuses a small fixture.
    let run = stacforge_env(
        &[
            "cogify",
            &fixtures()
                .join("geotiff/dem_utm33.tif")
                .display()
                .to_string(),
            &out.join("small.tif").display().to_string(),
        ],
        &[("STACFORGE_MAX_RASTER_GB", "0.000001")],
    );
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
}

/// Defect 13: Messages and exit codes: bad input exits 1 everywhere; the words
/// say what is wrong; equal calendars and units are equal; validate takes
/// a publish target; no collection appears when every source failed;
/// references point at absolute paths.
#[test]
fn d13_messages_and_exit_codes() {
    let Some((venv, data)) = venv_and_data() else {
        return;
    };
    let (t1, t2, _) = air_series(&data);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Bad input exits 1 in cogify, info, to-zarr and to-refs.
    let bad = fixtures().join("bad/truncated.tif");
    let runs = [
        stacforge([
            "cogify".as_ref(),
            bad.as_os_str(),
            d.join("x.tif").as_os_str(),
        ]),
        stacforge(["info".as_ref(), bad.as_os_str()]),
        to_zarr(&[&bad], &d.join("x.zarr"), &[]),
        to_refs(&[&bad], &d.join("x.json"), &[]),
    ];
    for run in runs {
        assert_eq!(run.status.code(), Some(1), "{}", text(&run));
        assert!(text(&run).contains("truncated.tif"), "{}", text(&run));
    }
    // A NaN latitude is named as such by to-cog, not "not evenly spaced".
    let nan = d.join("nan-lat.nc");
    make_bad_netcdf(&venv, "nan-lat", &t2, &nan);
    let run = netcdf("to-cog", &[&nan], &d.join("cog-cat"), &[]);
    assert_eq!(run.status.code(), Some(1));
    assert!(
        text(&run).contains("no value (NaN) at index 3"),
        "{}",
        text(&run)
    );
    assert!(!text(&run).contains("evenly"), "{}", text(&run));
    // No collection when every source failed.
    assert!(!d.join("cog-cat/collection.json").exists());
    // --out naming a file.
    let file = d.join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let run = create_items(&[fixtures().join("geotiff/dem_utm33.tif")], &file, &[]);
    assert_eq!(run.status.code(), Some(2));
    assert!(
        text(&run).contains("is a file, not a directory"),
        "{}",
        text(&run)
    );
    assert!(!text(&run).contains("os error 17"), "{}", text(&run));
    // gregorian is standard; "hours since 1800-01-01 00:00:00" is the same epoch.
    for kind in ["gregorian", "midnight"] {
        let variant = d.join(format!("{kind}.nc"));
        make_bad_netcdf(&venv, kind, &t2, &variant);
        let run = to_zarr(&[&t1, &variant], &d.join(format!("{kind}.zarr")), &[]);
        assert!(run.status.success(), "{kind}: {}", text(&run));
        let refs = d.join(format!("{kind}.json"));
        assert!(to_refs(&[&t1], &refs, &[]).status.success());
        let run = to_refs(&[&variant], &refs, &["--append"]);
        assert!(run.status.success(), "{kind}: {}", text(&run));
    }
    // validate of a publish target.
    let (cat, _) = one_item_catalog(&d.join("v"));
    let to = d.join("published");
    assert!(publish(&cat, &to, &[]).status.success());
    assert!(to.join(".stacforge/published.json").exists());
    if let Some(schemas) = schemas() {
        let run = stacforge([
            "validate".as_ref(),
            "--schemas".as_ref(),
            schemas.as_os_str(),
            to.as_os_str(),
        ]);
        assert!(run.status.success(), "{}", text(&run));
    }
    // Relative sources give absolute chunk paths.
    let local = d.join("rel");
    std::fs::create_dir(&local).unwrap();
    std::fs::copy(&t1, local.join("t1.nc")).unwrap();
    let run = Command::new(bin())
        .current_dir(&local)
        .args(["netcdf", "to-refs", "t1.nc", "--out", "r.json"])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", text(&run));
    let refs = json(&local.join("r.json"));
    let url = refs["refs"]["air/0.0.0"][0].as_str().unwrap();
    assert!(Path::new(url).is_absolute(), "{url}");
}

/// Defect 14: --skip-bad drops bad sources from a to-zarr / to-refs batch with a
/// report (exit 1) and writes the others; without it the batch is refused
/// in one line naming the file.
#[test]
fn d14_skip_bad_leaves_out_bad_sources_with_a_report() {
    let Some(data) = shared_data() else { return };
    let (t1, t2, full) = air_series(&data);
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.nc");
    truncate_copy(&t2, &cut, 0.5);
    let other_grid = data.join("netcdf/nc4/air.nc");
    for verb in ["to-zarr", "to-refs"] {
        let out = dir.path().join(format!("{verb}.out"));
        let run = netcdf(verb, &[&t1, &cut, &t2], &out, &[]);
        assert_eq!(run.status.code(), Some(1), "{}", text(&run));
        let errors: Vec<_> = text(&run)
            .lines()
            .filter(|l| l.starts_with("error:"))
            .map(str::to_string)
            .collect();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("cut.nc"), "{errors:?}");
        let run = netcdf(
            verb,
            &[&cut, &t1, &other_grid, &t2],
            &out,
            &["--skip-bad", "--json"],
        );
        assert_eq!(run.status.code(), Some(1), "{}", text(&run));
        let said = text(&run);
        assert!(
            said.contains("SKIPPED") && said.contains("cut.nc") && said.contains("air.nc"),
            "{said}"
        );
        let summary: Value = serde_json::from_slice(&run.stdout).unwrap();
        assert_eq!(
            summary["left_out"].as_array().unwrap().len(),
            2,
            "{summary}"
        );
        if verb == "to-zarr" {
            if let Some(venv) = interop_venv() {
                assert_python_check(&venv, "xarray_equal.py", &[full.as_path(), out.as_path()]);
            }
        }
    }
}

/// Defect 15: With a custom S3 endpoint and no credentials, nothing is asked of
/// anyone (no instance-metadata probe, no request to the endpoint): the
/// message says what to set.
#[test]
fn d15_a_custom_endpoint_without_credentials_asks_for_them() {
    let dir = tempfile::tempdir().unwrap();
    let (cat, _) = one_item_catalog(dir.path());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let mut command = Command::new(bin());
    command
        .args(["publish"])
        .arg(&cat)
        .args(["--to", "s3://bucket/x", "--s3-endpoint", &endpoint]);
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") {
            command.env_remove(k);
        }
    }
    // Never the cloud's metadata address, even if something tried: a
    // client looking for credentials would ask the loopback listener,
    // which the last assertion watches.
    command
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_METADATA_ENDPOINT", &endpoint);
    let run = command.output().unwrap();
    assert_eq!(run.status.code(), Some(2), "{}", text(&run));
    assert!(
        text(&run).contains("no credentials") && text(&run).contains("AWS_ACCESS_KEY_ID"),
        "{}",
        text(&run)
    );
    assert!(
        listener.accept().is_err(),
        "no request reached the endpoint"
    );
}

/// A small file system, unmounted when dropped.
struct TinyDisk(PathBuf);

impl TinyDisk {
    /// A 40 KiB tmpfs at `dir`; `None` (saying so) where mounting is not
    /// allowed (not root, or a container without the capability).
    fn mount(dir: &Path) -> Option<TinyDisk> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=40k", "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("skipping: cannot mount a small tmpfs here (needs root)");
            return None;
        }
        Some(TinyDisk(dir.to_path_buf()))
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Defect 13 (continued): a full disk is reported against the destination
/// (not the source), and leaves neither a partial file nor an empty item
/// folder.
#[test]
fn d13_a_full_disk_names_the_destination() {
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = TinyDisk::mount(&dir.path().join("tiny")) else {
        return;
    };
    let src = fixtures().join("geotiff/rgb_wgs84.tif");
    let dst = disk.0.join("out.tif");
    let run = stacforge([OsStr::new("cogify"), src.as_os_str(), dst.as_os_str()]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    let said = text(&run);
    assert!(
        said.contains(&format!("{}: the disk is full", dst.display())),
        "{said}"
    );
    let cat = disk.0.join("cat");
    let run = create_items(&[&src], &cat, &[]);
    assert_fails_saying(
        &run,
        1,
        &["cat/items/rgb_wgs84/rgb_wgs84.tif: No space left"],
    );
    assert!(names(&disk.0).is_empty(), "{:?}", names(&disk.0));
    assert!(!cat.join("items/rgb_wgs84").exists());
}
