//! `stacforge validate`: STAC documents against the official schemas (and
//! their local assets against `file:size`/`file:checksum`), TIFFs against the
//! COG layout rules.

use crate::Outcome;
use anyhow::Context;
use serde_json::{json, Value};
use stacforge_catalog::validate::{Validator, SCHEMAS_ENV};
use stacforge_core::checksum::sha256_multihash;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Options of `stacforge validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// STAC JSON files, TIFFs, or directories (searched for both).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Folder of the official STAC JSON schemas, laid out by URL.
    #[arg(long, env = SCHEMAS_ENV, value_name = "DIR")]
    schemas: Option<PathBuf>,
    /// Print one JSON object per file on standard output.
    #[arg(long)]
    json: bool,
}

/// What one file's check found.
struct Verdict {
    path: PathBuf,
    kind: &'static str,
    problems: Vec<String>,
    warnings: Vec<String>,
}

fn collect(path: &Path, out: &mut BTreeSet<PathBuf>) -> anyhow::Result<()> {
    if path.is_dir() {
        let entries =
            std::fs::read_dir(path).with_context(|| format!("{}: cannot list", path.display()))?;
        for entry in entries {
            let entry = entry?;
            // Hidden entries are stacforge's own bookkeeping
            // (`.stacforge/`, the run report) or temporary files; linked directories are
            // not walked (a link loop would never end).
            let name = entry.file_name().to_string_lossy().into_owned();
            let hidden = name.starts_with('.') || name == stacforge_runner::REPORT;
            let linked_dir = entry.file_type()?.is_symlink() && entry.path().is_dir();
            // Zarr stores and reference sets are assets, checked through
            // their items; their JSON is not STAC.
            let data = stacforge_core::cube::metadata_document(&entry.path()).is_some()
                || stacforge_array::refs::is_json_refs(&entry.path());
            if !hidden && !linked_dir && !data {
                collect(&entry.path(), out)?;
            }
        }
    } else if path.is_file() {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        if matches!(ext.as_str(), "json" | "tif" | "tiff") {
            out.insert(path.to_path_buf());
        }
    }
    Ok(())
}

/// Checks each local asset of a STAC document against its file fields.
fn check_assets(path: &Path, doc: &Value, problems: &mut Vec<String>) {
    let Some(assets) = doc.get("assets").and_then(Value::as_object) else {
        return;
    };
    let base = path.parent().unwrap_or(Path::new("."));
    for (key, asset) in assets {
        let Some(href) = asset.get("href").and_then(Value::as_str) else {
            continue;
        };
        if href.contains("://") || href.starts_with('/') {
            continue;
        }
        let Some(relative) = stacforge_core::href::decode(href) else {
            problems.push(format!("/assets/{key}: {href} has a malformed %-escape"));
            continue;
        };
        let mut file = base.join(relative);
        if file.is_dir() {
            match stacforge_core::cube::metadata_document(&file) {
                Some(document) => file = document,
                None => {
                    problems.push(format!(
                        "/assets/{key}: {href} is a directory but neither a Zarr store nor a reference set"
                    ));
                    continue;
                }
            }
        }
        let Ok(meta) = std::fs::metadata(&file) else {
            problems.push(format!(
                "/assets/{key}: {href} does not exist ({})",
                file.display()
            ));
            continue;
        };
        if let Some(size) = asset.get("file:size").and_then(Value::as_u64) {
            if size != meta.len() {
                problems.push(format!(
                    "/assets/{key}: file:size is {size} but {href} has {} bytes",
                    meta.len()
                ));
                continue;
            }
        }
        if let Some(expected) = asset.get("file:checksum").and_then(Value::as_str) {
            match std::fs::File::open(&file).and_then(sha256_multihash) {
                Ok(actual) if expected.starts_with("1220") && actual != expected => problems.push(
                    format!("/assets/{key}: file:checksum does not match the content of {href}"),
                ),
                Ok(_) => {}
                Err(e) => problems.push(format!("/assets/{key}: cannot read {href}: {e}")),
            }
        }
    }
}

fn check_stac(path: &Path, validator: &Validator) -> anyhow::Result<Verdict> {
    let mut problems = Vec::new();
    let text = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let doc: Value = match serde_json::from_slice(&text) {
        Ok(doc) => doc,
        Err(e) => {
            problems.push(format!("not valid JSON: {e}"));
            return Ok(Verdict {
                path: path.into(),
                kind: "STAC",
                problems,
                warnings: vec![],
            });
        }
    };
    let kind = match doc.get("type").and_then(Value::as_str) {
        Some("Feature") => "STAC Item",
        Some("Collection") => "STAC Collection",
        Some("Catalog") => "STAC Catalog",
        _ => "STAC",
    };
    let (found, unchecked) = validator.validate_available(&doc)?;
    problems.extend(found.iter().map(ToString::to_string));
    check_assets(path, &doc, &mut problems);
    // An extension whose schema the folder lacks (the CMIP6 extension is
    // not among the official schemas kept offline) is said, not failed.
    let warnings = (unchecked.iter())
        .map(|url| format!("not checked against {url}: the schema folder has no copy of it"))
        .collect();
    Ok(Verdict {
        path: path.into(),
        kind,
        problems,
        warnings,
    })
}

fn check_cog(path: &Path) -> Verdict {
    match stacforge_raster::layout::check(path) {
        Ok(report) => Verdict {
            path: path.into(),
            kind: "COG",
            problems: report.errors,
            warnings: report.warnings,
        },
        Err(e) => Verdict {
            path: path.into(),
            kind: "COG",
            problems: vec![e.to_string()],
            warnings: vec![],
        },
    }
}

pub fn run(args: &Args) -> anyhow::Result<Outcome> {
    let mut files = BTreeSet::new();
    // Paths that cannot be read, or hold nothing to check: invalid inputs.
    let mut unusable: Vec<(PathBuf, String)> = Vec::new();
    for p in &args.paths {
        if let Err(e) = std::fs::metadata(p) {
            unusable.push((p.clone(), format!("cannot be read: {e}")));
            continue;
        }
        let before = files.len();
        collect(p, &mut files)?;
        if files.len() == before {
            unusable.push((
                p.clone(),
                "nothing to validate: no STAC JSON document or TIFF there".to_string(),
            ));
        }
    }
    let needs_schemas = files.iter().any(|f| {
        f.extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    });
    let validator = match (&args.schemas, needs_schemas) {
        (Some(dir), true) => Some(Validator::new(dir)?),
        (None, true) => anyhow::bail!(
            "validating STAC needs the official schemas: pass --schemas DIR or set {SCHEMAS_ENV}"
        ),
        (_, false) => None,
    };
    let mut invalid = unusable.len();
    for (path, reason) in &unusable {
        if args.json {
            println!(
                "{}",
                json!({"path": path, "kind": "input", "valid": false, "errors": [reason], "warnings": []})
            );
        } else {
            println!("INVALID {}: {reason}", path.display());
        }
    }
    for file in &files {
        let is_json = file
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let verdict = match (&validator, is_json) {
            (Some(v), true) => check_stac(file, v)?,
            _ => check_cog(file),
        };
        if !verdict.problems.is_empty() {
            invalid += 1;
        }
        if args.json {
            println!(
                "{}",
                json!({
                    "path": verdict.path,
                    "kind": verdict.kind,
                    "valid": verdict.problems.is_empty(),
                    "errors": verdict.problems,
                    "warnings": verdict.warnings,
                })
            );
        } else if verdict.problems.is_empty() {
            println!("OK      {} ({})", verdict.path.display(), verdict.kind);
            for w in &verdict.warnings {
                println!("  note: {w}");
            }
        } else {
            println!("INVALID {} ({})", verdict.path.display(), verdict.kind);
            for p in &verdict.problems {
                println!("  - {p}");
            }
        }
    }
    eprintln!(
        "{} passed, {invalid} failed",
        files.len() + unusable.len() - invalid
    );
    Ok(if invalid == 0 {
        Outcome::Success
    } else {
        Outcome::SomeFailed
    })
}
