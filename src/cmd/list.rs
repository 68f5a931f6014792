use crate::{registry, Outcome};

/// Options of `stacforge list`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &Args) -> anyhow::Result<Outcome> {
    let entries = registry::entries();
    let mut rows = Vec::new();
    for entry in &entries {
        let package = entry.default_package()?;
        rows.push((entry.id, package.title(), entry.outputs.join(", ")));
    }
    if args.json {
        let list: Vec<_> = rows
            .iter()
            .map(|(id, title, outputs)| {
                serde_json::json!({"id": id, "title": title, "outputs": outputs})
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        for (id, title, outputs) in rows {
            println!("{id:<12} {title}\n{:<12} writes: {outputs}", "");
        }
    }
    Ok(Outcome::Success)
}
