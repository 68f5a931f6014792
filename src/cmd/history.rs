//! `stacforge history`: the commits of an Icechunk repository, each with
//! the sources it wrote.

use crate::{options::StoreArgs, Outcome};
use stacforge_array::repo::{Repo, RepoOptions};

/// Options of `stacforge history`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The repository (`netcdf to-zarr|to-refs --format icechunk` wrote it):
    /// a directory or s3://bucket/prefix.
    store: String,
    /// Start from this snapshot id, tag or branch (default: the tip of main).
    #[arg(long, value_name = "SNAPSHOT")]
    at: Option<String>,
    /// Print JSON: one object per commit, newest first.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    options: StoreArgs,
}

pub fn run(args: &Args) -> anyhow::Result<Outcome> {
    let options = RepoOptions {
        s3_endpoint: args.options.to_options().s3_endpoint.clone(),
    };
    let repo = Repo::open(&args.store, &options)?;
    let commits = repo.history(args.at.as_deref())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&commits)?);
        return Ok(Outcome::Success);
    }
    for commit in &commits {
        let tags = if commit.tags.is_empty() {
            String::new()
        } else {
            format!(" (tag: {})", commit.tags.join(", "))
        };
        println!("{}  {}  {}{tags}", commit.id, commit.time, commit.message);
        let record = commit.metadata.get("stacforge");
        if let Some(record) = record {
            println!(
                "    by stacforge {} ({})",
                record["version"].as_str().unwrap_or("?"),
                record["package"].as_str().unwrap_or("?"),
            );
        }
        for source in record
            .and_then(|r| r["sources"].as_array())
            .into_iter()
            .flatten()
        {
            println!(
                "    + {}  {} bytes  {}",
                source["href"].as_str().unwrap_or("?"),
                source["size"],
                source["checksum"].as_str().unwrap_or("?"),
            );
        }
    }
    Ok(Outcome::Success)
}
