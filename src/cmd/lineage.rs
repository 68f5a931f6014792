//! `stacforge lineage`: an item's chain of `derived_from` links back to the
//! original source files, and (`--verify`) every object in it checked.

use crate::{options::StoreArgs, Outcome};
use stacforge_catalog::lineage::{self, Access};

/// Options of `stacforge lineage`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The item: a file, a URL (a STAC API's item URL, a published catalog's
    /// item, s3://…).
    item: String,
    /// Read every reachable object again (assets, source files) and compare
    /// its size and checksum with what its item says; exit code 1 and one
    /// line per changed or missing object or broken link.
    #[arg(long)]
    verify: bool,
    /// Print the chain as JSON.
    #[arg(long)]
    json: bool,
    /// Follow at most this many levels of parents.
    #[arg(long, default_value_t = 64)]
    depth: usize,
    #[command(flatten)]
    store: StoreArgs,
}

pub fn run(args: &Args) -> anyhow::Result<Outcome> {
    let access = Access {
        store: args.store.to_options(),
        api: Default::default(),
    };
    let mut chain = lineage::walk(&args.item, &access, args.depth)?;
    let problems = if args.verify {
        lineage::verify(&mut chain, &access)
    } else {
        Vec::new()
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"chain": chain, "problems": problems})
            )?
        );
    } else {
        print!("{}", lineage::tree(&chain));
    }
    for problem in &problems {
        eprintln!("{problem}");
    }
    if args.verify {
        eprintln!("{}: {} problem(s) in the chain", args.item, problems.len());
    }
    Ok(if problems.is_empty() {
        Outcome::Success
    } else {
        Outcome::SomeFailed
    })
}
