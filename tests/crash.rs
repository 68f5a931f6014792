//! The crash suite: every writing verb killed at every injected point
//! (`STACFORGE_CRASH_AT=POINT:N` makes a debug build end itself as SIGKILL
//! would, at the N-th time it reaches POINT: before an atomic file write's
//! rename, before an object is put in a catalog, right after a directory
//! swap). After each kill, readers see the old state or the new one, never
//! a mix; the re-run then gives the uninterrupted result byte for byte
//! (volatile timestamps aside).

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs stacforge with `args`, killed at the `n`-th `point` when given.
fn run(args: &[String], crash: Option<(&str, usize)>) -> Output {
    let mut command = Command::new(bin());
    command.args(args);
    if let Some((point, n)) = crash {
        command.env("STACFORGE_CRASH_AT", format!("{point}:{n}"));
    }
    command.output().unwrap()
}

/// A tree with the fields that differ between two identical runs
/// (`created`, `updated`, `processing:datetime`) blanked in JSON files.
fn stable_tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    tree(dir)
        .into_iter()
        .map(|(path, bytes)| {
            if path.extension().is_some_and(|e| e == "json") {
                if let Ok(mut doc) = serde_json::from_slice::<Value>(&bytes) {
                    blank(&mut doc);
                    return (path, serde_json::to_vec(&doc).unwrap());
                }
            }
            (path, bytes)
        })
        .collect()
}

fn blank(doc: &mut Value) {
    match doc {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if matches!(key.as_str(), "created" | "updated" | "processing:datetime") {
                    *value = Value::Null;
                } else {
                    blank(value);
                }
            }
        }
        Value::Array(values) => values.iter_mut().for_each(blank),
        _ => {}
    }
}

/// What a reader entering a static catalog through `collection.json`
/// finds: nothing (no collection), or a collection whose every item exists
/// with every local asset at its declared size and checksum.
fn catalog_is_whole_or_absent(cat: &Path) -> Result<(), String> {
    let collection = cat.join("collection.json");
    if !collection.exists() {
        return Ok(());
    }
    let doc = json(&collection);
    for link in doc["links"].as_array().unwrap() {
        if link["rel"] != "item" {
            continue;
        }
        let href = stacforge_core::href::decode(link["href"].as_str().unwrap()).unwrap();
        let item_path = cat.join(&href);
        let item: Value =
            serde_json::from_slice(&std::fs::read(&item_path).map_err(|e| format!("{href}: {e}"))?)
                .map_err(|e| format!("{href}: {e}"))?;
        for (key, asset) in item["assets"].as_object().unwrap() {
            let a = stacforge_core::href::decode(asset["href"].as_str().unwrap()).unwrap();
            if a.contains("://") || a.starts_with('/') {
                continue;
            }
            let file = item_path.parent().unwrap().join(&a);
            let bytes = std::fs::read(&file).map_err(|e| format!("{href} {key}: {e}"))?;
            if asset["file:size"].as_u64() != Some(bytes.len() as u64) {
                return Err(format!("{href} {key}: size differs"));
            }
            let sum = stacforge_core::checksum::sha256_multihash(&bytes[..]).unwrap();
            if asset["file:checksum"].as_str() != Some(sum.as_str()) {
                return Err(format!("{href} {key}: checksum differs"));
            }
        }
    }
    Ok(())
}

/// Kills `args` at each `point` in turn (1st, 2nd, … until a run passes
/// every one of them), each time on a fresh copy of the initial state made
/// by `setup`; checks the state readers see after the kill with `check`,
/// re-runs to completion and compares with the uninterrupted `expected`
/// (from `result`). Returns how many kills there were.
fn kill_at_every_point(
    point: &str,
    setup: &dyn Fn(),
    args: &[String],
    check: &dyn Fn(usize) -> Result<(), String>,
    result: &dyn Fn() -> Vec<(PathBuf, Vec<u8>)>,
    expected: &[(PathBuf, Vec<u8>)],
) -> usize {
    for n in 1..500 {
        setup();
        let killed = run(args, Some((point, n)));
        if killed.status.success() {
            assert_eq!(result(), expected, "{point}:{n}: an uncrashed run differs");
            return n - 1;
        }
        assert_eq!(
            killed.status.code(),
            Some(137),
            "{point}:{n}: {}",
            text(&killed)
        );
        if let Err(e) = check(n) {
            panic!("{point}:{n}: after the kill, readers see a mix: {e}");
        }
        let again = run(args, None);
        assert!(
            again.status.success(),
            "{point}:{n}: re-run: {}",
            text(&again)
        );
        assert!(
            result() == expected,
            "{point}:{n}: the re-run differs from the uninterrupted run"
        );
    }
    panic!("{point}: more than 500 points");
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn create_item_killed_anywhere_resumes_to_the_same_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let cat = dir.path().join("cat");
    let sources: Vec<PathBuf> = tifs(&fixtures().join("geotiff"))
        .into_iter()
        .take(2)
        .collect();
    let mut args = vec!["geotiff".to_string(), "create-item".to_string()];
    args.extend(sources.iter().map(|p| s(p)));
    args.extend(["--out".to_string(), s(&cat)]);
    let setup = || {
        let _ = std::fs::remove_dir_all(&cat);
    };
    setup();
    assert!(run(&args, None).status.success());
    let expected = stable_tree(&cat);
    for point in ["put", "write-atomic"] {
        let kills = kill_at_every_point(
            point,
            &setup,
            &args,
            &|_| catalog_is_whole_or_absent(&cat),
            &|| stable_tree(&cat),
            &expected,
        );
        assert!(kills >= 3, "{point}: {kills}");
    }
}

#[test]
fn to_zarr_killed_anywhere_leaves_no_store_or_the_whole_one() {
    let Some(data) = shared_data() else { return };
    let (t1, t2, _) = air_series(&data);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.zarr");
    let args: Vec<String> = ["netcdf", "to-zarr", &s(&t1), &s(&t2), "--out", &s(&store)]
        .map(str::to_string)
        .to_vec();
    let setup = || {
        let _ = std::fs::remove_dir_all(&store);
    };
    setup();
    assert!(run(&args, None).status.success());
    let expected = tree(&store);
    let kills = kill_at_every_point(
        "write-atomic",
        &setup,
        &args,
        &|_| {
            if !store.exists() || tree(&store) == expected {
                Ok(())
            } else {
                Err("a partial store at the final name".into())
            }
        },
        &|| tree(&store),
        &expected,
    );
    assert!(kills >= 3, "{kills}");
}

#[test]
fn appends_killed_anywhere_leave_the_old_store_or_the_new_one() {
    let Some(data) = shared_data() else { return };
    let (t1, t2, _) = air_series(&data);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.zarr");
    let base = dir.path().join("base.zarr");
    assert!(netcdf("to-zarr", &[&t1], &base, &[]).status.success());
    let old = tree(&base);
    let copy = |from: &Path, to: &Path| {
        let _ = std::fs::remove_dir_all(to);
        for (path, bytes) in tree(from) {
            let target = to.join(path);
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::write(target, bytes).unwrap();
        }
    };
    let args: Vec<String> = [
        "netcdf",
        "to-zarr",
        &s(&t2),
        "--out",
        &s(&store),
        "--append",
    ]
    .map(str::to_string)
    .to_vec();
    copy(&base, &store);
    assert!(run(&args, None).status.success());
    let new = tree(&store);
    for point in ["write-atomic", "replace-dir"] {
        let kills = kill_at_every_point(
            point,
            &|| copy(&base, &store),
            &args,
            &|_| {
                let now = tree(&store);
                if now == old || now == new {
                    Ok(())
                } else {
                    Err("neither the old store nor the new one".into())
                }
            },
            &|| tree(&store),
            &new,
        );
        assert!(kills >= 1, "{point}: {kills}");
    }
    // Nothing is left beside the store after the re-runs.
    let beside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(beside.is_empty(), "{beside:?}");
}

#[test]
fn reference_appends_killed_anywhere_keep_the_old_file_or_write_the_new() {
    let Some(data) = shared_data() else { return };
    let (t1, t2, _) = air_series(&data);
    let dir = tempfile::tempdir().unwrap();
    let refs = dir.path().join("r.json");
    assert!(netcdf("to-refs", &[&t1], &refs, &[]).status.success());
    let old = std::fs::read(&refs).unwrap();
    let args: Vec<String> = ["netcdf", "to-refs", &s(&t2), "--out", &s(&refs), "--append"]
        .map(str::to_string)
        .to_vec();
    assert!(run(&args, None).status.success());
    let new = std::fs::read(&refs).unwrap();
    let kills = kill_at_every_point(
        "write-atomic",
        &|| std::fs::write(&refs, &old).unwrap(),
        &args,
        &|_| {
            let now = std::fs::read(&refs).unwrap();
            if now == old || now == new {
                Ok(())
            } else {
                Err("a torn reference file".into())
            }
        },
        &|| vec![(PathBuf::from("r.json"), std::fs::read(&refs).unwrap())],
        &[(PathBuf::from("r.json"), new.clone())],
    );
    assert_eq!(kills, 1);
}

#[test]
fn publish_killed_anywhere_is_finished_by_the_re_run() {
    let dir = tempfile::tempdir().unwrap();
    let cat = dir.path().join("cat");
    let sources: Vec<PathBuf> = tifs(&fixtures().join("geotiff"))
        .into_iter()
        .take(2)
        .collect();
    assert!(create_items(&sources, &cat, &[]).status.success());
    let to = dir.path().join("published");
    let args: Vec<String> = ["publish", &s(&cat), "--to", &s(&to)]
        .map(str::to_string)
        .to_vec();
    let setup = || {
        let _ = std::fs::remove_dir_all(&to);
    };
    setup();
    assert!(run(&args, None).status.success());
    let expected = tree(&to);
    let kills = kill_at_every_point(
        "put",
        &setup,
        &args,
        &|_| catalog_is_whole_or_absent(&to),
        &|| tree(&to),
        &expected,
    );
    assert!(kills >= 7, "{kills}");
}
