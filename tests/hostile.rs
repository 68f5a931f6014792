//! The hostile-input suite: generated bad files of every format (zero
//! bytes, truncated at several points, random bytes, wrong extensions, a
//! directory, a symlink loop, an enormous declared size, hostile names)
//! through every verb that reads sources. Each run must give a clear message
//! naming the file, the documented exit code (1: an input failed), no
//! partial output at a final name, nothing touched outside its output, and
//! no panic.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One hostile input: its path, and whether some verb may legitimately
/// read it (a valid file under a misleading extension).
struct Input {
    path: PathBuf,
    readable_by_content: bool,
}

/// A classic NetCDF header declaring a 100000 x 100000 float variable in a
/// file of a few bytes.
fn enormous_classic_header() -> Vec<u8> {
    fn name(out: &mut Vec<u8>, n: &str) {
        out.extend((n.len() as u32).to_be_bytes());
        out.extend(n.as_bytes());
        out.extend(std::iter::repeat_n(0u8, (4 - n.len() % 4) % 4));
    }
    let mut h = b"CDF\x01".to_vec();
    h.extend(0u32.to_be_bytes()); // numrecs
    h.extend(10u32.to_be_bytes()); // NC_DIMENSION
    h.extend(2u32.to_be_bytes());
    for d in ["y", "x"] {
        name(&mut h, d);
        h.extend(100_000u32.to_be_bytes());
    }
    h.extend([0u8; 8]); // no global attributes
    h.extend(11u32.to_be_bytes()); // NC_VARIABLE
    h.extend(1u32.to_be_bytes());
    name(&mut h, "z");
    h.extend(2u32.to_be_bytes());
    h.extend(0u32.to_be_bytes());
    h.extend(1u32.to_be_bytes());
    h.extend([0u8; 8]); // no attributes
    h.extend(5u32.to_be_bytes()); // NC_FLOAT
    h.extend(u32::MAX.to_be_bytes()); // vsize (too large for 32 bits)
    let begin = h.len() as u32 + 4;
    h.extend(begin.to_be_bytes());
    h.extend([0u8; 64]);
    h
}

/// Writes every hostile input into `dir`.
fn hostile_inputs(dir: &Path) -> Vec<Input> {
    let mut inputs = Vec::new();
    let mut bad = |path: PathBuf| {
        inputs.push(Input {
            path,
            readable_by_content: false,
        })
    };
    let fx = fixtures();
    let mut originals = vec![
        fx.join("geotiff/dem_utm33.tif"),
        fx.join("geotiff/rgb_wgs84.tif"),
        fx.join("modis/MOD10A2.A2022033.h09v05.061.2022042050729.hdf"),
        fx.join("imerg/3B-HHR.MS.MRG.3IMERG.20220101-S000000-E002959.0000.V07B.HDF5"),
        fx.join("imerg/3B-DAY.MS.MRG.3IMERG.20220101-S000000-E235959.V07B.nc4"),
    ];
    if let Some(data) = shared_data() {
        let (t1, _, _) = air_series(&data);
        originals.push(t1);
        originals.push(data.join("netcdf/nc3/bcsd_obs_1999.nc"));
    }
    for original in &originals {
        let stem = original.file_stem().unwrap().to_string_lossy().into_owned();
        let ext = original.extension().unwrap().to_string_lossy().into_owned();
        for (i, fraction) in [0.1, 0.5, 0.9].iter().enumerate() {
            let cut = dir.join(format!("{stem}.cut{i}.{ext}"));
            truncate_copy(original, &cut, *fraction);
            bad(cut);
        }
    }
    for ext in ["tif", "nc", "hdf", "HDF5"] {
        let empty = dir.join(format!("empty.{ext}"));
        std::fs::write(&empty, b"").unwrap();
        bad(empty);
        let random = dir.join(format!("random.{ext}"));
        let mut state = 0x9e3779b97f4a7c15u64;
        let bytes: Vec<u8> = (0..50_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        std::fs::write(&random, bytes).unwrap();
        bad(random);
        let folder = dir.join(format!("folder.{ext}"));
        std::fs::create_dir(&folder).unwrap();
        bad(folder);
    }
    let a = dir.join("loop-a.tif");
    let b = dir.join("loop-b.tif");
    std::os::unix::fs::symlink(&b, &a).unwrap();
    std::os::unix::fs::symlink(&a, &b).unwrap();
    bad(a);
    let missing = dir.join("no-such-file.nc");
    bad(missing);
    let enormous = dir.join("enormous.nc");
    std::fs::write(&enormous, enormous_classic_header()).unwrap();
    bad(enormous);
    // A hostile name on a bad file: the message must still name it.
    let named = dir.join("ünïcødé 100%#?.tif");
    std::fs::write(&named, b"II*\0garbage").unwrap();
    bad(named);
    // Valid files under misleading extensions.
    for (original, name) in [
        (fx.join("geotiff/dem_utm33.tif"), "a-geotiff.nc"),
        (
            fx.join("modis/MOD10A2.A2022033.h09v05.061.2022042050729.hdf"),
            "a-modis.tif",
        ),
    ] {
        let path = dir.join(name);
        std::fs::copy(original, &path).unwrap();
        inputs.push(Input {
            path,
            readable_by_content: true,
        });
    }
    inputs
}

/// Every verb that reads sources, with the output it writes under `out`.
fn verbs(src: &Path, out: &Path) -> Vec<(String, Vec<std::ffi::OsString>)> {
    let s = src.as_os_str().to_owned();
    let o = |name: &str| out.join(name).into_os_string();
    let v = |args: Vec<std::ffi::OsString>| args;
    let mut runs = vec![
        (
            "geotiff create-item",
            v(vec![
                "geotiff".into(),
                "create-item".into(),
                s.clone(),
                "--out".into(),
                o("cat"),
            ]),
        ),
        (
            "geotiff create-item --in-place",
            v(vec![
                "geotiff".into(),
                "create-item".into(),
                "--in-place".into(),
                s.clone(),
                "--out".into(),
                o("cat"),
            ]),
        ),
        (
            "modis create-item",
            v(vec![
                "modis".into(),
                "create-item".into(),
                s.clone(),
                "--out".into(),
                o("cat"),
            ]),
        ),
        (
            "imerg create-item",
            v(vec![
                "imerg".into(),
                "create-item".into(),
                s.clone(),
                "--out".into(),
                o("cat"),
            ]),
        ),
        ("cogify", v(vec!["cogify".into(), s.clone(), o("x.tif")])),
        ("info", v(vec!["info".into(), s.clone()])),
        (
            "netcdf to-cog",
            v(vec![
                "netcdf".into(),
                "to-cog".into(),
                s.clone(),
                "--out".into(),
                o("cat"),
            ]),
        ),
        (
            "netcdf to-zarr",
            v(vec![
                "netcdf".into(),
                "to-zarr".into(),
                s.clone(),
                "--out".into(),
                o("x.zarr"),
            ]),
        ),
        (
            "netcdf to-refs",
            v(vec![
                "netcdf".into(),
                "to-refs".into(),
                s.clone(),
                "--out".into(),
                o("x.json"),
            ]),
        ),
    ];
    if src.extension().is_some_and(|e| e == "tif") {
        runs.push(("validate", v(vec!["validate".into(), s])));
    }
    runs.into_iter().map(|(n, a)| (n.to_string(), a)).collect()
}

/// Names, sizes and modification times of everything under `dir`
/// (symlinks as links, not followed).
fn listing(dir: &Path) -> Vec<(String, u64, std::time::SystemTime)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let meta = std::fs::symlink_metadata(e.path()).unwrap();
            out.push((
                e.path().strip_prefix(dir).unwrap().display().to_string(),
                meta.len(),
                meta.modified().unwrap(),
            ));
            if meta.is_dir() {
                stack.push(e.path());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_verb_refuses_every_hostile_input_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let inputs_dir = dir.path().join("inputs");
    std::fs::create_dir(&inputs_dir).unwrap();
    let inputs = hostile_inputs(&inputs_dir);
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let inputs_before = listing(&inputs_dir);
    let mut problems = Vec::new();
    let mut runs = 0;
    for input in &inputs {
        let out = dir.path().join("out");
        for (verb, args) in verbs(&input.path, &out) {
            let _ = std::fs::remove_dir_all(&out);
            std::fs::create_dir(&out).unwrap();
            let run = Command::new(bin())
                .args(&args)
                .env("TMPDIR", &tmp)
                .output()
                .unwrap();
            runs += 1;
            let said = text(&run);
            let what = format!("{verb} {}", input.path.display());
            let stderr = String::from_utf8_lossy(&run.stderr);
            if stderr.contains("panicked") || run.status.code().is_none_or(|c| c > 2) {
                problems.push(format!("{what}: crashed: {said}"));
                continue;
            }
            let code = run.status.code().unwrap();
            if code == 0 {
                if !input.readable_by_content {
                    problems.push(format!("{what}: accepted a bad input: {said}"));
                }
                continue;
            }
            if code != 1 {
                problems.push(format!("{what}: exit {code}, not 1: {said}"));
            }
            let name = input.path.file_name().unwrap().to_string_lossy();
            if !said.contains(name.as_ref()) {
                problems.push(format!(
                    "{what}: the message does not name the file: {said}"
                ));
            }
            // No partial output at a final name; no temporary left.
            let written: Vec<String> = names(&out)
                .into_iter()
                .filter(|n| {
                    n.ends_with(".tif")
                        || n.ends_with(".png")
                        || n.ends_with(".json")
                        || n.contains(".zarr")
                        || n.contains("stacforge")
                        || n.contains("partial")
                })
                .collect();
            if !written.is_empty() {
                problems.push(format!("{what}: left {written:?}"));
            }
            let left = names(&tmp);
            if !left.is_empty() || std::fs::read_dir(&tmp).unwrap().count() > 0 {
                problems.push(format!("{what}: left temporary files {left:?}"));
                let _ = std::fs::remove_dir_all(&tmp);
                std::fs::create_dir(&tmp).unwrap();
            }
        }
    }
    assert_eq!(
        listing(&inputs_dir),
        inputs_before,
        "the inputs were touched"
    );
    let outside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let mut outside = outside;
    outside.sort();
    assert_eq!(
        outside,
        ["inputs", "out", "tmp"],
        "nothing else was written"
    );
    assert!(runs > 300, "{runs} runs");
    assert!(
        problems.is_empty(),
        "{} of {runs} runs misbehaved:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// A batch with good and hostile sources: the good ones are written, each
/// bad one is named, and the bad ones leave nothing.
#[test]
fn hostile_sources_do_not_spoil_a_batch() {
    let dir = tempfile::tempdir().unwrap();
    let inputs_dir = dir.path().join("inputs");
    std::fs::create_dir(&inputs_dir).unwrap();
    let hostile: Vec<PathBuf> = hostile_inputs(&inputs_dir)
        .into_iter()
        .filter(|i| !i.readable_by_content)
        .map(|i| i.path)
        .filter(|p| p.extension().is_some_and(|e| e == "tif"))
        .collect();
    let good = tifs(&fixtures().join("geotiff"));
    let mut sources = good.clone();
    sources.extend(hostile.iter().cloned());
    let cat = dir.path().join("cat");
    let run = create_items(&sources, &cat, &[]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    let said = text(&run);
    for bad in &hostile {
        let name = bad.file_name().unwrap().to_string_lossy();
        assert!(said.contains(name.as_ref()), "{name}: {said}");
    }
    assert_eq!(item_links(&cat.join("collection.json")), good.len());
    for g in &good {
        let id = g.file_stem().unwrap().to_str().unwrap();
        assert_same_pixels(g, &cat.join(format!("items/{id}/{id}.tif")));
    }
}
