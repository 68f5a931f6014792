//! `stacforge catalog DIR`: a root `catalog.json` linking the collections
//! written under DIR (one folder each, as `stacforge run` writes them), so
//! a whole set of collections is browsed, validated and published as one.

use crate::Outcome;
use anyhow::Context;
use serde_json::json;
use std::path::PathBuf;

/// Options of `stacforge catalog`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The folder holding one collection per subfolder (`<dir>/<name>/collection.json`).
    dir: PathBuf,
    /// The catalog's id.
    #[arg(long, default_value = "stacforge")]
    id: String,
    /// The catalog's description.
    #[arg(long, default_value = "Collections written by stacforge")]
    description: String,
}

pub fn run(args: &Args) -> anyhow::Result<Outcome> {
    stacforge_core::package::validate_id(&args.id)?;
    let mut children = Vec::new();
    let entries = std::fs::read_dir(&args.dir)
        .with_context(|| format!("{}: cannot list", args.dir.display()))?;
    for entry in entries {
        let dir = entry?.path();
        let collection = dir.join("collection.json");
        let name = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if name.starts_with('.') || !collection.is_file() {
            continue;
        }
        let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&collection)?)
            .with_context(|| format!("{}: not JSON", collection.display()))?;
        let title = doc["title"]
            .as_str()
            .or(doc["id"].as_str())
            .unwrap_or(&name)
            .to_string();
        children.push((name, title));
    }
    if children.is_empty() {
        anyhow::bail!(
            "{}: no <folder>/collection.json under it; write collections with `stacforge run PACKAGE SRC... --out {}/<name>` first",
            args.dir.display(),
            args.dir.display()
        );
    }
    children.sort();
    // No `self` link: STAC wants it absolute, and the catalog is meant to move.
    let mut links =
        vec![json!({"rel": "root", "href": "./catalog.json", "type": "application/json"})];
    for (name, title) in &children {
        let href = format!("./{}/collection.json", stacforge_core::href::encode(name));
        links.push(
            json!({"rel": "child", "href": href, "type": "application/json", "title": title}),
        );
    }
    let catalog = json!({
        "type": "Catalog",
        "stac_version": "1.1.0",
        "id": args.id,
        "description": args.description,
        "links": links,
    });
    let path = args.dir.join("catalog.json");
    let mut bytes = serde_json::to_vec_pretty(&catalog)?;
    bytes.push(b'\n');
    stacforge_core::fs::write_atomic(&path, &bytes)
        .with_context(|| format!("{}", path.display()))?;
    eprintln!("{}: {} collection(s)", path.display(), children.len());
    Ok(Outcome::Success)
}
