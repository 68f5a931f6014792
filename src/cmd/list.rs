use crate::{registry, Outcome};

/// Options of `stacforge list`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &Args) -> anyhow::Result<Outcome> {
    let packages = registry::packages(&Default::default());
    if args.json {
        let list: Vec<_> = packages
            .iter()
            .map(|p| serde_json::json!({"id": p.id(), "title": p.title()}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        for p in packages {
            println!("{:<12} {}", p.id(), p.title());
        }
    }
    Ok(Outcome::Success)
}
