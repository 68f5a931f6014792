//! Icechunk repositories (`--format icechunk`): NetCDF series written and
//! appended as commits, materialised and virtual, read back by Python
//! icechunk + xarray equal to the sources, at the tip and at older
//! snapshots; appends killed mid-write leave the previous snapshot; two
//! racing appenders conflict cleanly; items point at their snapshots.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The venv with Python icechunk (`scripts/setup-interop.sh`); `None`
/// (with a message) when absent, except under CI.
fn icechunk_venv() -> Option<PathBuf> {
    let dir = std::env::var_os("STACFORGE_ICECHUNK_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv-icechunk"));
    if dir.join("bin/python").exists() {
        return Some(dir);
    }
    assert!(
        !in_ci(),
        "CI must run scripts/setup-interop.sh first ({} has no Python icechunk)",
        dir.display()
    );
    eprintln!(
        "skipping: no icechunk venv at {} (run scripts/setup-interop.sh)",
        dir.display()
    );
    None
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// Python icechunk + xarray read `repo` (at `at`, else the tip) equal to `reference`.
fn assert_reads_as(venv: &Path, reference: &Path, repo: &Path, at: Option<&str>) {
    let mut args = vec![s(reference), s(repo)];
    args.extend(at.map(str::to_string));
    assert_python_check(venv, "icechunk_equal.py", &args);
}

/// `stacforge history REPO --json`.
fn history(repo: &Path) -> Vec<Value> {
    let out = stacforge(["history", &s(repo), "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
}

/// The hrefs each stacforge commit recorded, oldest commit first.
fn committed_sources(repo: &Path) -> Vec<Vec<String>> {
    let mut commits = history(repo);
    commits.reverse();
    commits
        .iter()
        .filter_map(|c| c["metadata"]["stacforge"]["sources"].as_array())
        .map(|sources| {
            sources
                .iter()
                .map(|s| {
                    let href = s["href"].as_str().unwrap();
                    href.rsplit('/').next().unwrap().to_string()
                })
                .collect()
        })
        .collect()
}

fn summary(out: &Output) -> Value {
    assert!(out.status.success(), "{}", text(out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}

/// Starts `command` held just before its commit (STACFORGE_PAUSE_AT, debug
/// builds) and returns once it is there; writing `release` lets it go on.
fn hold_before_commit(mut command: Command, release: &Path) -> std::process::Child {
    let child = command
        .env(
            "STACFORGE_PAUSE_AT",
            format!("icechunk-commit:{}", s(release)),
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let paused = PathBuf::from(format!("{}.paused", s(release)));
    let waited = std::time::Instant::now();
    while !paused.exists() {
        assert!(
            waited.elapsed().as_secs() < 120,
            "the held run never reached its commit"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child
}

/// Asserts that a run succeeded, showing what it said when it did not.
fn ok(out: &Output) {
    assert!(out.status.success(), "{}", text(out));
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn netcdf_series_written_and_appended_as_commits_reads_back_equal_in_python_icechunk() {
    let Some(data) = shared_data() else { return };
    let Some(venv) = icechunk_venv() else { return };
    let (t1, t2, full) = air_series(&data);
    let dir = tempfile::tempdir().unwrap();
    for (verb, label) in [("to-zarr", "materialised"), ("to-refs", "virtual")] {
        let repo = dir.path().join(format!("{label}.icechunk"));
        let first = summary(&netcdf(
            verb,
            &[&t1],
            &repo,
            &["--format", "icechunk", "--json"],
        ));
        assert_eq!(first["committed"], true, "{label}: {first}");
        assert_reads_as(&venv, &t1, &repo, None);
        let second = summary(&netcdf(
            verb,
            &[&t2],
            &repo,
            &["--format", "icechunk", "--append", "--json"],
        ));
        assert_ne!(first["snapshot"], second["snapshot"], "{label}");
        if verb == "to-refs" {
            assert!(second["virtual_chunks"].as_u64().unwrap() > 0, "{second}");
        }
        assert_reads_as(&venv, &full, &repo, None);
        // One commit per run (after the repository's first, empty one),
        // each with the sources it wrote.
        assert_eq!(
            committed_sources(&repo),
            vec![vec![name(&t1)], vec![name(&t2)]],
            "{label}"
        );
        let commits = history(&repo);
        assert_eq!(commits.len(), 3, "{label}: {commits:?}");
        let recorded = &commits[0]["metadata"]["stacforge"]["sources"][0];
        assert_eq!(recorded["size"], std::fs::metadata(&t2).unwrap().len());
        assert!(recorded["checksum"].as_str().unwrap().starts_with("1220"));
        // Appending the same file again is a no-op: no commit.
        let again = summary(&netcdf(
            verb,
            &[&t2],
            &repo,
            &["--format", "icechunk", "--append", "--json"],
        ));
        assert_eq!(again["committed"], false, "{again}");
        assert_eq!(again["snapshot"], second["snapshot"]);
        assert_eq!(history(&repo).len(), 3);
    }
    // The human history names every commit and source.
    let out = stacforge(["history", &s(&dir.path().join("virtual.icechunk"))]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains(&name(&t1)) && said.contains(&name(&t2)) && said.contains("append"),
        "{said}"
    );
}

#[test]
fn virtual_chunks_stay_in_the_sources() {
    let Some(data) = shared_data() else { return };
    let Some(venv) = icechunk_venv() else { return };
    let (t1, t2, full) = air_series(&data);
    let dir = tempfile::tempdir().unwrap();
    // Sources copied beside the test so that changing one is possible.
    let (c1, c2) = (dir.path().join(name(&t1)), dir.path().join(name(&t2)));
    std::fs::copy(&t1, &c1).unwrap();
    std::fs::copy(&t2, &c2).unwrap();
    let repo = dir.path().join("v.icechunk");
    let out = netcdf("to-refs", &[&c1, &c2], &repo, &["--format", "icechunk"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_reads_as(&venv, &full, &repo, None);
    // The repository holds metadata and small inlined values, not the data.
    let held: u64 = tree(&repo).iter().map(|(_, b)| b.len() as u64).sum();
    let air_bytes = 2 * 4 * 25 * 53 * 2; // air: int16, 2 steps of 25 x 53 a file
    assert!(held < air_bytes, "{held} bytes in the repository");
    // A source changed after it was referenced is refused, not misread.
    let mut bytes = std::fs::read(&c2).unwrap();
    let at = bytes.len() - 100;
    bytes[at] ^= 0xff;
    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::fs::write(&c2, bytes).unwrap();
    let check = Command::new(venv.join("bin/python"))
        .arg(root().join("tests/python/icechunk_equal.py"))
        .args([s(&full), s(&repo)])
        .output()
        .unwrap();
    assert!(
        !check.status.success(),
        "read a changed source: {}",
        text(&check)
    );
}

#[test]
fn an_append_killed_mid_write_leaves_the_previous_snapshot_and_reruns_to_the_same_data() {
    let Some(data) = shared_data() else { return };
    let Some(venv) = icechunk_venv() else { return };
    let (t1, t2, full) = air_series(&data);
    let dir = tempfile::tempdir().unwrap();
    for (verb, label) in [("to-zarr", "materialised"), ("to-refs", "virtual")] {
        let repo = dir.path().join(format!("{label}.icechunk"));
        ok(&netcdf(verb, &[&t1], &repo, &["--format", "icechunk"]));
        let before = history(&repo);
        let args: Vec<String> = [
            "netcdf",
            verb,
            &s(&t2),
            "--out",
            &s(&repo),
            "--format",
            "icechunk",
            "--append",
        ]
        .map(str::to_string)
        .to_vec();
        // Killed (as SIGKILL would: _exit) at each write into the session
        // and just before the commit.
        let mut kills = 0;
        for (point, n) in [
            ("icechunk-set", 1),
            ("icechunk-set", 2),
            ("icechunk-set", 5),
            ("icechunk-commit", 1),
        ] {
            let killed = Command::new(bin())
                .args(&args)
                .env("STACFORGE_CRASH_AT", format!("{point}:{n}"))
                .output()
                .unwrap();
            if killed.status.success() {
                continue; // the run had fewer writes than n
            }
            assert_eq!(
                killed.status.code(),
                Some(137),
                "{point}:{n}: {}",
                text(&killed)
            );
            kills += 1;
            // Readers see the previous snapshot, unchanged.
            assert_reads_as(&venv, &t1, &repo, None);
            assert_eq!(history(&repo), before, "{label} {point}:{n}");
        }
        assert!(kills >= 3, "{label}: {kills} kills");
        // The re-run completes to what an uninterrupted append gives.
        let rerun = Command::new(bin()).args(&args).output().unwrap();
        assert!(rerun.status.success(), "{}", text(&rerun));
        assert_reads_as(&venv, &full, &repo, None);
        assert_eq!(
            committed_sources(&repo),
            vec![vec![name(&t1)], vec![name(&t2)]]
        );
        let uninterrupted = dir.path().join(format!("{label}-straight.icechunk"));
        ok(&netcdf(
            verb,
            &[&t1],
            &uninterrupted,
            &["--format", "icechunk"],
        ));
        ok(&netcdf(
            verb,
            &[&t2],
            &uninterrupted,
            &["--format", "icechunk", "--append"],
        ));
        assert_eq!(committed_sources(&uninterrupted), committed_sources(&repo));
    }
}

#[test]
fn two_concurrent_appends_one_commits_the_other_conflicts_and_succeeds_when_rerun() {
    let Some(venv) = icechunk_venv() else { return };
    let days = fixture_files("netcdf", "nc");
    assert_eq!(days.len(), 3, "{days:?}");
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("sst.icechunk");
    let out = netcdf("to-zarr", &[&days[0]], &repo, &["--format", "icechunk"]);
    assert!(out.status.success(), "{}", text(&out));
    // A appends days 2 and 3 and is held just before its commit; B appends
    // day 2 meanwhile and commits first.
    let release = dir.path().join("release");
    let mut a = Command::new(bin());
    a.args(["netcdf", "to-zarr", &s(&days[1]), &s(&days[2])])
        .args(["--out", &s(&repo), "--format", "icechunk", "--append"]);
    let a = hold_before_commit(a, &release);
    let b = netcdf(
        "to-zarr",
        &[&days[1]],
        &repo,
        &["--format", "icechunk", "--append"],
    );
    assert!(b.status.success(), "{}", text(&b));
    std::fs::write(&release, b"").unwrap();
    let a = a.wait_with_output().unwrap();
    assert_fails_saying(&a, 1, &["conflict", "another writer", "run it again"]);
    // Exactly B's commit landed.
    let day = |p: &PathBuf| name(p);
    assert_eq!(
        committed_sources(&repo),
        vec![vec![day(&days[0])], vec![day(&days[1])]]
    );
    // A again: day 2 is there already, day 3 is appended on top.
    let again = netcdf(
        "to-zarr",
        &[&days[1], &days[2]],
        &repo,
        &["--format", "icechunk", "--append"],
    );
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(
        committed_sources(&repo),
        vec![
            vec![day(&days[0])],
            vec![day(&days[1])],
            vec![day(&days[2])]
        ]
    );
    // The result equals the three days written at once.
    let straight = dir.path().join("straight.zarr");
    let all: Vec<&Path> = days.iter().map(PathBuf::as_path).collect();
    ok(&netcdf("to-zarr", &all, &straight, &[]));
    assert_python_check(&venv, "icechunk_equal.py", &[s(&straight), s(&repo)]);
}

#[test]
fn items_point_at_their_snapshots_and_old_snapshots_read_as_they_were() {
    let Some(data) = shared_data() else { return };
    let Some(venv) = icechunk_venv() else { return };
    let (t1, t2, full) = air_series(&data);
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("air.icechunk");
    let (cat1, cat2) = (dir.path().join("stac1"), dir.path().join("stac2"));
    let first = summary(&netcdf(
        "to-zarr",
        &[&t1],
        &repo,
        &[
            "--format",
            "icechunk",
            "--tag",
            "v1",
            "--catalog",
            &s(&cat1),
            "--json",
        ],
    ));
    let second = summary(&netcdf(
        "to-zarr",
        &[&t2],
        &repo,
        &[
            "--format",
            "icechunk",
            "--append",
            "--catalog",
            &s(&cat2),
            "--json",
        ],
    ));
    for (summary, tag) in [(&first, Some("v1")), (&second, None)] {
        let item_path = PathBuf::from(summary["item"].as_str().unwrap());
        assert_schema_valid(&item_path);
        let item = json(&item_path);
        let asset = &item["assets"]["icechunk"];
        assert_eq!(asset["type"], "application/vnd.zarr+icechunk", "{item}");
        assert_eq!(asset["href"], s(&std::path::absolute(&repo).unwrap()));
        assert_eq!(asset["icechunk:snapshot_id"], summary["snapshot"]);
        assert_eq!(asset["icechunk:tag"].as_str(), tag);
        assert_eq!(asset["icechunk:branch"], "main");
    }
    // Appending again leaves the first item's snapshot as it was.
    let item1 = json(&PathBuf::from(first["item"].as_str().unwrap()));
    let snapshot1 = item1["assets"]["icechunk"]["icechunk:snapshot_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_reads_as(&venv, &t1, &repo, Some(&snapshot1));
    assert_reads_as(&venv, &t1, &repo, Some("v1"));
    assert_reads_as(&venv, &full, &repo, None);
    // The item of the first snapshot describes it, not the tip: two steps.
    let steps = |item: &Value| {
        item["properties"]["cube:dimensions"]["time"]["values"]
            .as_array()
            .map(Vec::len)
            .or_else(|| {
                item["properties"]["cube:dimensions"]["time"]["extent"]
                    .as_array()
                    .map(|_| 0)
            })
    };
    let item2 = json(&PathBuf::from(second["item"].as_str().unwrap()));
    assert_ne!(steps(&item1), None);
    assert_ne!(
        item1["properties"]["end_datetime"],
        item2["properties"]["end_datetime"]
    );
    // history from the old snapshot lists only what led to it.
    let out = stacforge(["history", &s(&repo), "--at", &snapshot1, "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let commits: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(commits.len(), 2);
    assert_eq!(commits[0]["tags"], serde_json::json!(["v1"]));
}

#[test]
fn bad_requests_are_refused_and_change_nothing() {
    let Some(data) = shared_data() else { return };
    let (t1, t2, _) = air_series(&data);
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("r.icechunk");
    ok(&netcdf("to-zarr", &[&t1], &repo, &["--format", "icechunk"]));
    let before = history(&repo);
    // Writing again without --append or --overwrite.
    let again = netcdf("to-zarr", &[&t2], &repo, &["--format", "icechunk"]);
    assert_fails_saying(
        &again,
        1,
        &["holds data already", "--append", "--overwrite"],
    );
    // Zarr v2 cannot go into Icechunk.
    let v2 = netcdf(
        "to-zarr",
        &[&t1],
        &dir.path().join("v2.icechunk"),
        &["--format", "icechunk", "--zarr-version", "2"],
    );
    assert_fails_saying(&v2, 1, &["Zarr v3 only"]);
    // A directory that is not a repository is not replaced.
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("keep.txt"), b"mine").unwrap();
    let refused = netcdf("to-zarr", &[&t1], &other, &["--format", "icechunk"]);
    assert_fails_saying(
        &refused,
        1,
        &["not an Icechunk repository", "nothing was replaced"],
    );
    assert_eq!(std::fs::read(other.join("keep.txt")).unwrap(), b"mine");
    // --tag without Icechunk; history of something that is not a repository.
    let tagged = netcdf(
        "to-zarr",
        &[&t1],
        &dir.path().join("z.zarr"),
        &["--tag", "v1"],
    );
    assert_fails_saying(&tagged, 2, &["--tag", "--format icechunk"]);
    let not_repo = stacforge(["history", &s(&other)]);
    assert_fails_saying(&not_repo, 1, &["no Icechunk repository"]);
    // An append of a file that does not continue the axis.
    let gap = netcdf(
        "to-zarr",
        &[&t1],
        &repo,
        &["--format", "icechunk", "--append"],
    );
    assert!(gap.status.success(), "{}", text(&gap)); // already there: a no-op
    assert_eq!(history(&repo), before);
    // --overwrite replaces the data in a new snapshot; the old one stays.
    let replaced = summary(&netcdf(
        "to-zarr",
        &[&t2],
        &repo,
        &["--format", "icechunk", "--overwrite", "--json"],
    ));
    assert_eq!(replaced["committed"], true);
    assert_eq!(history(&repo).len(), before.len() + 1);
}

#[test]
fn a_repository_on_s3_is_written_appended_and_raced_for_like_a_local_one() {
    let Some(data) = shared_data() else { return };
    let Some(venv) = icechunk_venv() else { return };
    let Some(s3) = S3Server::start() else { return };
    let (t1, t2, full) = air_series(&data);
    let repo = "s3://bucket/air.icechunk";
    let run = |extra: &[&str], sources: &[&Path]| {
        let mut command = s3.stacforge(S3_SECRET_KEY);
        command.args(["netcdf", "to-zarr"]);
        command.args(sources.iter().map(|p| s(p)));
        command
            .args(["--out", repo, "--format", "icechunk"])
            .args(extra);
        command
    };
    ok(&run(&[], &[&t1]).output().unwrap());
    // Two appenders: the first held before its commit while the second commits.
    let dir = tempfile::tempdir().unwrap();
    let release = dir.path().join("release");
    let held = hold_before_commit(run(&["--append"], &[&t2]), &release);
    ok(&run(&["--append"], &[&t2]).output().unwrap());
    std::fs::write(&release, b"").unwrap();
    let held = held.wait_with_output().unwrap();
    assert_fails_saying(&held, 1, &["conflict", "another writer"]);
    let check = Command::new(venv.join("bin/python"))
        .arg(root().join("tests/python/icechunk_equal.py"))
        .args([s(&full), repo.to_string()])
        .env("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("STACFORGE_S3_ENDPOINT", s3.endpoint())
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", text(&check));
    let history = s3
        .stacforge(S3_SECRET_KEY)
        .args(["history", repo, "--json"])
        .output()
        .unwrap();
    ok(&history);
    let commits: Vec<Value> = serde_json::from_slice(&history.stdout).unwrap();
    assert_eq!(commits.len(), 3, "{commits:?}");
}
