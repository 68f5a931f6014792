//! Collections at scale: a run over the real sample data with its report,
//! a run killed with SIGKILL and resumed, the ledger deciding what is
//! redone, shards writing into one S3 location and a Slurm job array, then
//! `finalize`, each compared with one uninterrupted process.

mod common;
use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const WHEN: &str = "2020-06-01T00:00:00Z";

/// `n` generated sources in `dir`: the five fixture GeoTIFFs in turn under
/// distinct names, listed in `dir/sources.txt`.
fn generate_sources(dir: &Path, n: usize) -> (Vec<PathBuf>, PathBuf) {
    let fixtures = tifs(&fixtures().join("geotiff"));
    std::fs::create_dir_all(dir).unwrap();
    let sources: Vec<PathBuf> = (0..n)
        .map(|i| {
            let path = dir.join(format!("scene-{i:04}.tif"));
            std::fs::copy(&fixtures[i % fixtures.len()], &path).unwrap();
            path
        })
        .collect();
    let list = dir.join("sources.txt");
    let text: String = sources
        .iter()
        .map(|s| format!("{}\n", s.display()))
        .collect();
    std::fs::write(&list, text).unwrap();
    (sources, list)
}

/// A document without its volatile fields (when it was written).
fn stable(mut doc: Value) -> Value {
    for key in ["created", "updated"] {
        if let Some(p) = doc.get_mut("properties").and_then(Value::as_object_mut) {
            p.remove(key);
        }
        if let Some(o) = doc.as_object_mut() {
            o.remove(key);
        }
    }
    doc
}

/// What a catalog holds, for comparing two: every file under `dir` but the
/// run's bookkeeping, JSON documents without their volatile fields, other
/// files by their bytes.
fn catalog_view(dir: &Path) -> BTreeMap<PathBuf, Value> {
    tree(dir)
        .into_iter()
        .filter(|(path, _)| !path.to_string_lossy().contains(".stacforge-"))
        .map(|(path, bytes)| {
            let value = if path.extension().is_some_and(|e| e == "json") {
                stable(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
            } else {
                Value::String(stacforge_core::checksum::sha256_multihash(&bytes[..]).unwrap())
            };
            (path, value)
        })
        .collect()
}

fn assert_same_catalog(a: &Path, b: &Path) {
    let (a, b) = (catalog_view(a), catalog_view(b));
    let names = |v: &BTreeMap<PathBuf, Value>| v.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&a), names(&b), "the same files");
    for (path, value) in &a {
        assert_eq!(value, &b[path], "{} differs", path.display());
    }
}

fn report(out: &Path) -> Value {
    json(&out.join("run-report.json"))
}

fn run(args: &[&str]) -> Output {
    stacforge(args.iter().map(|s| s.to_string()))
}

/// `stacforge run geotiff --sources-from LIST --out OUT EXTRA...`, as arguments.
fn list_run(list: &Path, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["run", "geotiff", "--sources-from"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(list.display().to_string());
    args.push("--out".into());
    args.push(out.display().to_string());
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// Every item document in `out` is whole and its assets complete: no
/// partial object at a final name.
fn assert_whole(out: &Path) {
    for entry in std::fs::read_dir(out.join("items")).into_iter().flatten() {
        let dir = entry.unwrap().path();
        let id = dir.file_name().unwrap().to_string_lossy().into_owned();
        for file in std::fs::read_dir(&dir).unwrap() {
            let file = file.unwrap().path();
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue; // a temporary file, under a name no reader expects
            }
            if name.ends_with(".tif") {
                let check = stacforge_raster::layout::check(&file)
                    .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
                assert!(check.is_valid(), "{}: {:?}", file.display(), check.errors);
            }
        }
        let doc = dir.join(format!("{id}.json"));
        if !doc.exists() {
            continue;
        }
        let item: Value = serde_json::from_slice(&std::fs::read(&doc).unwrap())
            .unwrap_or_else(|e| panic!("{}: not whole: {e}", doc.display()));
        for (key, asset) in item["assets"].as_object().unwrap() {
            let file = dir.join(asset["href"].as_str().unwrap().trim_start_matches("./"));
            let bytes = std::fs::read(&file)
                .unwrap_or_else(|e| panic!("{id} asset {key}: {}: {e}", file.display()));
            assert_eq!(asset["file:size"], bytes.len(), "{id} asset {key}");
            assert_eq!(
                asset["file:checksum"],
                stacforge_core::checksum::sha256_multihash(&bytes[..]).unwrap(),
                "{id} asset {key}"
            );
        }
    }
}

/// Done when 1: every format of ../shared/data through the packages that
/// apply, into one catalog that validates; what cannot be handled is in
/// each run's report, with the file and the reason, and the run exits 1.
#[test]
fn a_run_over_the_shared_data_is_a_valid_catalog_and_reports_what_it_cannot_handle() {
    let (Some(data), Some(schemas)) = (shared_data(), schemas()) else {
        return;
    };
    let files = |dir: &str| -> Vec<String> {
        let mut found: Vec<String> = std::fs::read_dir(data.join(dir))
            .unwrap()
            .map(|e| e.unwrap().path().display().to_string())
            .collect();
        found.sort();
        found
    };
    let cmip6 = |dataset: &str| files(&format!("cmip6/{dataset}"));
    let out = tempfile::tempdir().unwrap();
    // (package, collection, sources, extra options, failures: (file, reason)).
    type Case<'a> = (
        &'a str,
        &'a str,
        Vec<String>,
        Vec<&'a str>,
        Vec<(&'a str, &'a str)>,
    );
    let cases: Vec<Case> = vec![
        (
            "geotiff",
            "geotiff",
            files("geotiff"),
            vec!["--datetime", WHEN],
            vec![("rotated.tif", "rotated or sheared")],
        ),
        (
            "modis",
            "modis",
            files("hdf4"),
            vec![],
            vec![("MOD14.hdf4", "not a gridded HDF-EOS2 product")],
        ),
        (
            "netcdf",
            "netcdf-slices",
            [files("netcdf/nc3"), files("netcdf/nc4"), files("hdf5")].concat(),
            vec![],
            vec![
                ("AMSR_E_L3_RainGrid_B05_200707.h5", "no variable has x/y"),
                ("two-subs.h5", "no variable has x/y"),
            ],
        ),
        (
            "netcdf-zarr",
            "air-zarr",
            files("netcdf/air-series")
                .into_iter()
                .filter(|f| f.contains("split"))
                .collect(),
            vec![],
            vec![],
        ),
        (
            "netcdf-refs",
            "air-refs",
            files("netcdf/air-series")
                .into_iter()
                .filter(|f| f.contains("split"))
                .collect(),
            vec![],
            vec![],
        ),
        (
            "netcdf-zarr",
            "cmip6-pr",
            cmip6("DCPP/MOHC/HadGEM3-GC31-MM/dcppA-hindcast/s2004-r3i1p1f2/Amon/pr/gn/v20200417"),
            vec![],
            vec![],
        ),
        (
            "netcdf-refs",
            "cmip6-siconc",
            // A curvilinear sea-ice grid: placed by its 2-D coordinates.
            cmip6("CMIP/SNU/SAM0-UNICON/historical/r1i1p1f1/SImon/siconc/gn/latest"),
            vec![],
            vec![],
        ),
    ];
    for (package, collection, sources, extra, failures) in &cases {
        let dest = out.path().join(collection);
        let mut args = vec!["run".to_string(), package.to_string()];
        args.extend(sources.iter().cloned());
        args.extend(["--out".into(), dest.display().to_string()]);
        args.extend(["--collection-id".into(), collection.to_string()]);
        args.extend(extra.iter().map(|s| s.to_string()));
        let ran = stacforge(&args);
        let expected = if failures.is_empty() { 0 } else { 1 };
        assert_eq!(
            ran.status.code(),
            Some(expected),
            "{package}: {}",
            text(&ran)
        );
        let report = report(&dest);
        let units = &report["units"];
        assert_eq!(units["failed"], failures.len(), "{package}: {report:#}");
        assert_eq!(
            units["written"].as_u64().unwrap() + units["failed"].as_u64().unwrap(),
            units["planned"].as_u64().unwrap(),
            "{package}: {report:#}"
        );
        for (file, reason) in failures {
            let failure = report["failures"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| {
                    f["sources"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|s| s.as_str().unwrap().ends_with(file))
                })
                .unwrap_or_else(|| panic!("{package}: {file} in the report: {report:#}"));
            let error = failure["error"].as_str().unwrap();
            assert!(error.contains(reason), "{package}: {file}: {error}");
            assert!(
                text(&ran).contains(reason),
                "{package}: told on the terminal too"
            );
        }
    }
    let catalog = stacforge(["catalog".as_ref(), out.path().as_os_str()]);
    assert!(catalog.status.success(), "{}", text(&catalog));
    let validate = stacforge([
        "validate".as_ref(),
        "--schemas".as_ref(),
        schemas.as_os_str(),
        out.path().as_os_str(),
    ]);
    assert!(validate.status.success(), "{}", text(&validate));
    // The collections are computed from their items.
    let geotiff = json(&out.path().join("geotiff/collection.json"));
    let codes = geotiff["summaries"]["proj:code"].as_array().unwrap();
    assert!(codes.contains(&"EPSG:32618".into()), "{codes:?}");
    assert_eq!(
        geotiff["item_assets"]["data"]["type"],
        "image/tiff; application=geotiff; profile=cloud-optimized"
    );
    let modis = json(&out.path().join("modis/collection.json"));
    assert_eq!(modis["summaries"]["platform"], serde_json::json!(["terra"]));
}

/// Done when 2: a run over 300 sources killed with SIGKILL midway leaves
/// no partial object at a final name; the re-run skips what the killed run
/// finished (its report says how many) and ends with the catalog an
/// uninterrupted run writes.
#[test]
fn a_killed_run_resumes_to_the_catalog_of_an_uninterrupted_one() {
    let work = tempfile::tempdir().unwrap();
    let (sources, list) = generate_sources(&work.path().join("in"), 300);
    let whole = work.path().join("whole");
    let killed = work.path().join("killed");
    let args = |out: &Path| list_run(&list, out, &["--datetime", WHEN, "-j", "2"]);
    let ran = stacforge(args(&whole));
    assert!(ran.status.success(), "{}", text(&ran));
    assert_eq!(report(&whole)["units"]["written"], 300);

    let mut child = Command::new(bin())
        .args(args(&killed))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let ledger = killed.join(".stacforge/ledger");
    // Finished units: whole ledger entries, not the hidden temporary files
    // one is written under before it is renamed into place.
    let entries = || {
        std::fs::read_dir(&ledger).map_or(0, |d| {
            d.filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| !e.file_name().to_string_lossy().starts_with('.'))
            })
            .count()
        })
    };
    let started = std::time::Instant::now();
    while entries() < 60 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be killed"
        );
        assert!(
            started.elapsed().as_secs() < 300,
            "the run made no progress"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let finished = entries();
    assert!(
        (60..300).contains(&finished),
        "killed midway: {finished} units done"
    );
    assert!(
        !killed.join("collection.json").exists(),
        "the collection comes last"
    );
    assert_whole(&killed);

    let ran = stacforge(args(&killed));
    assert!(ran.status.success(), "{}", text(&ran));
    let units = &report(&killed)["units"];
    assert_eq!(
        units["skipped"], finished,
        "finished units are skipped: {units}"
    );
    assert_eq!(units["written"], 300 - finished, "{units}");
    assert_same_catalog(&whole, &killed);
    assert_eq!(sources.len(), 300);
}

/// Done when 4: a source whose bytes change is redone, an unchanged one is
/// not (even when rewritten with the same bytes); changed options redo
/// everything; --dry-run writes nothing; --retry-failed re-runs only the
/// failures; --fail-fast stops at the first.
#[test]
fn the_ledger_redoes_what_changed_and_only_that() {
    let work = tempfile::tempdir().unwrap();
    let (sources, _) = generate_sources(&work.path().join("in"), 3);
    let out = work.path().join("out");
    let out_s = out.display().to_string();
    let go = |extra: &[&str]| -> (Output, Value) {
        let mut args: Vec<String> = ["run", "geotiff", "--out", &out_s, "--datetime", WHEN]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(sources.iter().map(|s| s.display().to_string()));
        args.extend(extra.iter().map(|s| s.to_string()));
        let ran = stacforge(&args);
        let report = report(&out);
        (ran, report)
    };
    let (ran, first) = go(&[]);
    assert!(ran.status.success(), "{}", text(&ran));
    assert_eq!(first["units"]["written"], 3);
    let asset = |i: usize| out.join(format!("items/scene-000{i}/scene-000{i}.tif"));
    let modified = |i: usize| std::fs::metadata(asset(i)).unwrap().modified().unwrap();
    let before: Vec<_> = (0..3).map(modified).collect();

    // Source 0 gets other bytes; source 2 the same bytes again (a newer
    // modification time, the same checksum).
    let other = fixtures().join("geotiff/rgb_wgs84.tif");
    std::fs::copy(&other, &sources[0]).unwrap();
    let same = std::fs::read(&sources[2]).unwrap();
    std::fs::write(&sources[2], same).unwrap();
    let (ran, second) = go(&[]);
    assert!(ran.status.success(), "{}", text(&ran));
    assert_eq!(second["units"]["written"], 1, "{second:#}");
    assert_eq!(second["units"]["skipped"], 2, "{second:#}");
    assert_same_pixels(&other, &asset(0));
    assert_ne!(modified(0), before[0], "redone");
    assert_eq!(modified(1), before[1], "untouched");
    assert_eq!(modified(2), before[2], "untouched");

    // Options that change outputs redo every unit; so does --force.
    let (_, lzw) = go(&["--compression", "lzw"]);
    assert_eq!(lzw["units"]["written"], 3, "{lzw:#}");
    let (_, again) = go(&["--compression", "lzw"]);
    assert_eq!(again["units"]["skipped"], 3, "{again:#}");
    let (_, forced) = go(&["--compression", "lzw", "--force"]);
    assert_eq!(forced["units"]["written"], 3, "{forced:#}");

    // A dry run writes nothing and says what a run would do.
    let empty = work.path().join("in/empty.tif");
    std::fs::write(&empty, b"").unwrap();
    let fresh = work.path().join("in/fresh.tif");
    std::fs::copy(fixtures().join("geotiff/dem_utm33.tif"), &fresh).unwrap();
    let rotated = work.path().join("in/rotated.tif");
    std::fs::copy(fixtures().join("bad/rotated_geotransform.tif"), &rotated).unwrap();
    let before_dry = tree(&out);
    let report_before = std::fs::read(out.join("run-report.json")).unwrap();
    let dry = run(&[
        "run",
        "geotiff",
        "--out",
        &out_s,
        "--datetime",
        WHEN,
        "--compression",
        "lzw",
        "--dry-run",
        "--json",
        &sources[0].display().to_string(),
        &empty.display().to_string(),
        &fresh.display().to_string(),
        &rotated.display().to_string(),
    ]);
    assert_eq!(
        dry.status.code(),
        Some(1),
        "a unit cannot be done: {}",
        text(&dry)
    );
    let plan: BTreeMap<String, Value> = events(&dry)
        .into_iter()
        .filter(|e| e["event"] == "plan")
        .map(|e| (e["item_id"].as_str().unwrap().to_string(), e))
        .collect();
    assert_eq!(plan["scene-0000"]["action"], "skip");
    assert_eq!(plan["fresh"]["action"], "convert");
    assert_eq!(plan["fresh"]["reason"], "not done before");
    assert_eq!(plan["empty"]["action"], "refuse");
    assert_eq!(
        plan["rotated"]["action"], "refuse",
        "the package opens its sources"
    );
    let why = plan["rotated"]["reason"].as_str().unwrap();
    assert!(why.contains("rotated or sheared"), "{why}");
    assert!(
        plan["empty"]["reason"]
            .as_str()
            .unwrap()
            .contains("is empty"),
        "{plan:?}"
    );
    assert_eq!(tree(&out), before_dry, "a dry run writes nothing");
    assert_eq!(
        std::fs::read(out.join("run-report.json")).unwrap(),
        report_before
    );

    // A failure is retried alone once its source is fixed.
    let with_bad = |extra: &[&str]| {
        let mut args = vec![
            "run",
            "geotiff",
            "--out",
            &out_s,
            "--datetime",
            WHEN,
            "--compression",
            "lzw",
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    let empty_s = empty.display().to_string();
    let fresh_s = fresh.display().to_string();
    let ran = with_bad(&[&empty_s, &fresh_s]);
    assert_eq!(ran.status.code(), Some(1), "{}", text(&ran));
    let failed = report(&out);
    assert_eq!(failed["units"]["failed"], 1, "{failed:#}");
    assert!(failed["failures"][0]["error"]
        .as_str()
        .unwrap()
        .contains("is empty"));
    std::fs::copy(fixtures().join("geotiff/seaice_3413.tif"), &empty).unwrap();
    let retried = with_bad(&["--retry-failed"]);
    assert!(retried.status.success(), "{}", text(&retried));
    let retried = report(&out);
    assert_eq!(
        retried["units"]["planned"], 1,
        "only the failure: {retried:#}"
    );
    assert_eq!(retried["units"]["written"], 1, "{retried:#}");
    assert!(out.join("items/empty/empty.tif").exists());
    assert_eq!(
        item_links(&out.join("collection.json")),
        5,
        "the collection lists every item, not only the retried one"
    );

    // --fail-fast starts nothing after the first failure.
    let stop = work.path().join("stop");
    std::fs::write(work.path().join("in/bad.tif"), b"").unwrap();
    let bad = work.path().join("in/bad.tif").display().to_string();
    let mut args = vec![
        "run".to_string(),
        "geotiff".into(),
        "--out".into(),
        stop.display().to_string(),
        "--datetime".into(),
        WHEN.into(),
        "-j".into(),
        "1".into(),
        "--fail-fast".into(),
        bad,
    ];
    args.extend(sources.iter().map(|s| s.display().to_string()));
    let ran = stacforge(&args);
    assert_eq!(ran.status.code(), Some(1), "{}", text(&ran));
    let units = &report(&stop)["units"];
    assert_eq!(units["failed"], 1, "{units}");
    assert_eq!(units["not_run"], 3, "{units}");
}

/// Done when 3: three shards running at once into one S3 location, then
/// `finalize`, write what one process writes; the sources are read from an
/// S3 prefix (`--match`), fetched once into a cache.
#[test]
fn three_shards_on_s3_then_finalize_equal_one_process() {
    let Some(server) = S3Server::start() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let bucket = server.root.path().join("bucket");
    generate_sources(&bucket.join("sources"), 30);
    std::fs::write(bucket.join("sources/README.txt"), b"not a source").unwrap();
    let cache = work.path().join("cache");
    let run_on = |out: &str, extra: &[&str]| -> Command {
        let mut cmd = server.stacforge(S3_SECRET_KEY);
        cmd.args([
            "run",
            "geotiff",
            "s3://bucket/sources/",
            "--match",
            "*.tif",
            "--out",
            out,
        ])
        .args(["--datetime", WHEN, "--cache"])
        .arg(&cache)
        .args(extra);
        cmd
    };
    let one = run_on("s3://bucket/single", &[]).output().unwrap();
    assert!(one.status.success(), "{}", text(&one));
    let shards: Vec<_> = (0..3)
        .map(|k| {
            let shard = format!("{k}/3");
            run_on("s3://bucket/sharded", &["--shard", &shard, "-j", "1"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (k, shard) in shards.into_iter().enumerate() {
        let done = shard.wait_with_output().unwrap();
        assert!(done.status.success(), "shard {k}: {}", text(&done));
    }
    assert_shards_cover(&bucket.join("sharded"), 3, 30);
    assert!(
        !bucket.join("sharded/collection.json").exists(),
        "shards leave the collection to finalize"
    );
    let mut finalize = server.stacforge(S3_SECRET_KEY);
    let done = finalize
        .args(["finalize", "--out", "s3://bucket/sharded"])
        .output()
        .unwrap();
    assert!(done.status.success(), "{}", text(&done));
    let gathered = report(&bucket.join("sharded"));
    assert_eq!(gathered["units"]["written"], 30, "{gathered:#}");
    assert_eq!(gathered["shards"].as_array().unwrap().len(), 3);
    assert_same_catalog(&bucket.join("single"), &bucket.join("sharded"));
    // Provenance names the objects, not the cache.
    let item = json(&bucket.join("single/items/scene-0000/scene-0000.json"));
    let via = item["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rel"] == "via")
        .unwrap();
    assert_eq!(via["href"], "s3://bucket/sources/scene-0000.tif");
}

/// Done when 3, on a real batch engine: docs/examples/stacforge-array.sbatch
/// submitted as a 3-task Slurm job array (`--shard auto`), then `finalize`,
/// equals one process.
#[test]
fn a_slurm_job_array_then_finalize_equals_one_process() {
    let work = tempfile::tempdir().unwrap();
    let Some(slurm) = Slurm::start(&work.path().join("slurm")) else {
        return;
    };
    let (_, list) = generate_sources(&work.path().join("in"), 24);
    let single = work.path().join("single");
    let sharded = work.path().join("sharded");
    let one = stacforge(list_run(&list, &single, &["--datetime", WHEN]));
    assert!(one.status.success(), "{}", text(&one));
    let logs = work.path().join("task-%a.log");
    let submitted = slurm
        .command("sbatch")
        .args(["--array=0-2", "--wait", "--output"])
        .arg(&logs)
        .arg(root().join("docs/examples/stacforge-array.sbatch"))
        .env("STACFORGE", bin())
        .env("SOURCES", &list)
        .env("OUT", &sharded)
        .env("EXTRA", format!("--datetime {WHEN}"))
        .output()
        .unwrap();
    let task_logs: String = (0..3)
        .map(|k| {
            std::fs::read_to_string(work.path().join(format!("task-{k}.log"))).unwrap_or_default()
        })
        .collect();
    assert!(
        submitted.status.success(),
        "{}\n{task_logs}",
        text(&submitted)
    );
    assert_shards_cover(&sharded, 3, 24);
    let done = stacforge(["finalize".as_ref(), "--out".as_ref(), sharded.as_os_str()]);
    assert!(done.status.success(), "{}", text(&done));
    assert_same_catalog(&single, &sharded);
}

/// Each of the `n` shards' reports is there, every shard had units, and
/// together they had all `units`.
fn assert_shards_cover(out: &Path, n: usize, units: u64) {
    let mut assigned = 0;
    for k in 0..n {
        let report = out.join(format!(".stacforge/reports/shard-{k}-of-{n}.json"));
        assert!(report.exists(), "shard {k}/{n} ran");
        let count = json(&report)["units"]["assigned"].as_u64().unwrap();
        assert!(count > 0, "shard {k} has units");
        assigned += count;
    }
    assert_eq!(assigned, units, "every unit in exactly one shard");
}

/// docs/examples' Kubernetes Indexed Job and AWS Batch array job, where no
/// such engine runs: their container command, with its catalog and source
/// list made local, run once per index as the engine would (the index in
/// the engine's variable), then `finalize`, equals one process.
#[test]
fn the_kubernetes_and_aws_batch_examples_run_as_shards() {
    let work = tempfile::tempdir().unwrap();
    let (_, list) = generate_sources(&work.path().join("in"), 12);
    let single = work.path().join("single");
    let one = stacforge(list_run(&list, &single, &[]));
    // The examples give no --datetime: the fixtures carry their own.
    assert!(one.status.success(), "{}", text(&one));
    let k8s = std::fs::read_to_string(root().join("docs/examples/k8s-indexed-job.yaml")).unwrap();
    let line = k8s
        .lines()
        .find_map(|l| l.trim().strip_prefix("command: "))
        .expect("the Job's container has a command");
    let k8s_command: Vec<String> = serde_json::from_str(line).unwrap();
    let aws = json(&root().join("docs/examples/aws-batch-job.json"));
    let aws_command: Vec<String> =
        serde_json::from_value(aws["jobDefinition"]["containerProperties"]["command"].clone())
            .unwrap();
    assert_eq!(aws["submitJob"]["arrayProperties"]["size"], 3);
    for (engine, variable, command) in [
        ("k8s", "JOB_COMPLETION_INDEX", k8s_command),
        ("aws", "AWS_BATCH_JOB_ARRAY_INDEX", aws_command),
    ] {
        assert_eq!(command[0], "stacforge");
        let out = work.path().join(engine);
        let local: Vec<String> = command[1..]
            .iter()
            .map(|a| match a.as_str() {
                "/config/sources.txt" => list.display().to_string(),
                a if a.starts_with("s3://") => out.display().to_string(),
                a => a.to_string(),
            })
            .collect();
        for k in 0..3 {
            let ran = Command::new(bin())
                .args(&local)
                .env(variable, k.to_string())
                .output()
                .unwrap();
            assert!(ran.status.success(), "{engine} index {k}: {}", text(&ran));
        }
        assert_shards_cover(&out, 3, 12);
        let done = stacforge(["finalize".as_ref(), "--out".as_ref(), out.as_os_str()]);
        assert!(done.status.success(), "{}", text(&done));
        assert_same_catalog(&single, &out);
    }
    // Without an engine's index, --shard auto says what it needs.
    let ran = Command::new(bin())
        .args(list_run(
            &list,
            &work.path().join("none"),
            &["--shard", "auto"],
        ))
        .env_remove("SLURM_ARRAY_TASK_ID")
        .output()
        .unwrap();
    assert_fails_saying(
        &ran,
        2,
        &[
            "--shard auto",
            "JOB_COMPLETION_INDEX",
            "SLURM_ARRAY_TASK_ID",
        ],
    );
}
