//! `stacforge new-package NAME --kind raster|array`: a working package
//! crate under `packages/NAME` (the trait implemented for a minimal
//! example, its collection metadata, fixtures, conformance and snapshot
//! tests), registered in the binary. docs/writing-a-package.md goes on
//! from there.

use crate::Outcome;
use anyhow::Context;
use std::path::{Path, PathBuf};

/// Options of `stacforge new-package`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The package id: lower-case letters, digits and dashes (e.g. `grace-mascons`).
    name: String,
    /// raster: one source → one COG and one item; array: a file series →
    /// one Zarr store and one item.
    #[arg(long, value_parser = ["raster", "array"])]
    kind: String,
    /// One line saying what the package is for (default: from its kind).
    #[arg(long)]
    title: Option<String>,
    /// The repository to add it to (default: the current directory).
    #[arg(long, default_value = ".")]
    repo: PathBuf,
    /// Only rewrite the fixtures of an existing package.
    #[arg(long)]
    fixtures_only: bool,
}

/// The line before which packages are registered in src/registry.rs.
pub const REGISTRY_MARKER: &str = "// stacforge new-package registers packages above this line";
/// The line before which package crates are added to Cargo.toml.
const CARGO_MARKER: &str = "# stacforge new-package adds packages above this line";

pub fn run(args: &Args) -> anyhow::Result<Outcome> {
    let id = args.name.as_str();
    let valid = !id.is_empty()
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !id.ends_with('-');
    if !valid {
        anyhow::bail!("{id:?}: a package id is lower-case letters, digits and dashes, starting with a letter (e.g. grace-mascons)");
    }
    if crate::registry::find(id).is_some() && !args.fixtures_only {
        anyhow::bail!("{id}: a package of that id is already registered");
    }
    let repo = &args.repo;
    let registry = repo.join("src/registry.rs");
    let cargo = repo.join("Cargo.toml");
    for file in [&registry, &cargo] {
        if !file.is_file() {
            anyhow::bail!(
                "{}: not found; run new-package in a stacforge checkout (or pass --repo)",
                file.display()
            );
        }
    }
    let dir = repo.join("packages").join(id);
    let raster = args.kind == "raster";
    if args.fixtures_only {
        let written = write_fixtures(&dir.join("fixtures"), id, raster)?;
        eprintln!("{}: {} fixture(s) rewritten", dir.display(), written.len());
        return Ok(Outcome::Success);
    }
    if dir.exists() {
        anyhow::bail!("{}: already exists; nothing was written", dir.display());
    }
    let type_name: String = id
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    let title = args.title.clone().unwrap_or_else(|| {
        if raster {
            format!("{id}: one COG and one item per source file")
        } else {
            format!("{id}: a file series combined into one Zarr store and one item")
        }
    });
    let fill = |template: &str| {
        template
            .replace("{{id}}", id)
            .replace("{{crate_id}}", &id.replace('-', "_"))
            .replace("{{Type}}", &type_name)
            .replace("{{title}}", &title.replace('"', "'"))
            .replace("{{kind}}", &args.kind)
            .replace(
                "{{engine}}",
                if raster {
                    "stacforge-raster"
                } else {
                    "stacforge-array"
                },
            )
            .replace("{{engine_dir}}", if raster { "raster" } else { "array" })
            .replace(
                "{{init}}",
                if raster {
                    "    stacforge_raster::init();"
                } else {
                    "    // The array engine sets GDAL up when it places a grid on Earth."
                },
            )
    };
    let lib = if raster {
        include_str!("new_package/raster_lib.rs.tmpl")
    } else {
        include_str!("new_package/array_lib.rs.tmpl")
    };
    let files = [
        (
            "Cargo.toml",
            fill(include_str!("new_package/Cargo.toml.tmpl")),
        ),
        ("src/lib.rs", fill(lib)),
        (
            "data/collection.json",
            fill(include_str!("new_package/collection.json.tmpl")),
        ),
        (
            "tests/package.rs",
            fill(include_str!("new_package/tests.rs.tmpl")),
        ),
    ];
    for (name, text) in &files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().expect("inside the package"))?;
        std::fs::write(&path, text).with_context(|| format!("{}", path.display()))?;
    }
    let written = write_fixtures(&dir.join("fixtures"), id, raster)?;
    std::fs::write(
        dir.join("fixtures/README.md"),
        format!(
            "# Fixtures of the {id} package\n\nWritten by `stacforge new-package {id} --kind {kind}`; rewrite them with\n`stacforge new-package {id} --kind {kind} --fixtures-only`. Replace them with small files in\nthe real layout of the dataset (and a generator for them) as the package grows.\n",
            kind = args.kind
        ),
    )?;
    register(&registry, &cargo, id, &type_name, raster)?;
    // The generated code as `cargo fmt --check` wants it.
    let formatted = std::process::Command::new("rustfmt")
        .args(["--edition", "2021"])
        .arg(dir.join("src/lib.rs"))
        .arg(dir.join("tests/package.rs"))
        .arg(&registry)
        .status();
    if !formatted.is_ok_and(|s| s.success()) {
        eprintln!("note: run `cargo fmt --all` to format the new package");
    }
    // Cargo.lock learns of the new workspace member (no dependency changes).
    let locked = std::process::Command::new(std::env::var("CARGO").unwrap_or("cargo".into()))
        .args(["update", "--workspace", "--offline", "--quiet"])
        .current_dir(repo)
        .status();
    if !locked.is_ok_and(|s| s.success()) {
        eprintln!(
            "note: run `cargo update --workspace --offline` to add the package to Cargo.lock"
        );
    }
    eprintln!(
        "{}: package {id} ({} kind) written and registered, with {} fixture(s).\n\
         Next: `cargo test -p stacforge-{id}` (its conformance and snapshot tests), then\n\
         `cargo run -- run {id} packages/{id}/fixtures/* --out /tmp/{id}-catalog`.\n\
         docs/writing-a-package.md explains each part.",
        dir.display(),
        args.kind,
        written.len()
    );
    Ok(Outcome::Success)
}

/// Adds the package to the binary's dependencies and to the registry.
fn register(
    registry: &Path,
    cargo: &Path,
    id: &str,
    type_name: &str,
    raster: bool,
) -> anyhow::Result<()> {
    let crate_id = id.replace('-', "_");
    let entry = if raster {
        format!(
            "        Entry {{\n            id: \"{id}\",\n            outputs: &[\"COG\"],\n            create_item: true,\n            args: CogArgs::augment_args,\n            build: |m| cog_package(m, |cog| Box::new(stacforge_{crate_id}::{type_name}::new(cog))),\n        }},\n"
        )
    } else {
        format!(
            "        Entry {{\n            id: \"{id}\",\n            outputs: &[\"Zarr\"],\n            create_item: true,\n            args: ZarrArgs::augment_args,\n            build: |m| {{\n                let recipe = ZarrArgs::from_arg_matches(m)?.recipe()?;\n                Ok(Box::new(stacforge_{crate_id}::{type_name}::new(recipe)))\n            }},\n        }},\n"
        )
    };
    insert_before(registry, REGISTRY_MARKER, &entry)?;
    insert_before(
        cargo,
        CARGO_MARKER,
        &format!("stacforge-{id} = {{ path = \"packages/{id}\" }}\n"),
    )
}

/// Inserts `text` at the start of the line holding `marker`.
fn insert_before(path: &Path, marker: &str, text: &str) -> anyhow::Result<()> {
    let content = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let at = content
        .find(marker)
        .with_context(|| format!("{}: no line `{marker}`", path.display()))?;
    let line_start = content[..at].rfind('\n').map_or(0, |i| i + 1);
    let mut updated = content.clone();
    updated.insert_str(line_start, text);
    stacforge_core::fs::write_atomic(path, updated.as_bytes())
        .with_context(|| format!("{}", path.display()))
}

/// Writes two small, deterministic sources the example package converts:
/// two daily GeoTIFFs (float32, EPSG:4326, `TIFFTAG_DATETIME`) for a
/// raster package, two daily CF NetCDF-4 files for an array one.
fn write_fixtures(dir: &Path, id: &str, raster: bool) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for day in 1..=2u32 {
        let values: Vec<f32> = (0..18 * 36)
            .map(|i| {
                let (row, col) = ((i / 36) as f32, (i % 36) as f32);
                280.0 + 20.0 * (row / 3.0).cos() + (col / 5.0 + day as f32).sin()
            })
            .collect();
        let path = if raster {
            let path = dir.join(format!("{id}_2024010{day}.tif"));
            write_geotiff(&path, &values, day)?;
            path
        } else {
            let path = dir.join(format!("{id}_2024010{day}.nc"));
            write_netcdf(&path, &values, day)?;
            path
        };
        written.push(path);
    }
    Ok(written)
}

fn write_geotiff(path: &Path, values: &[f32], day: u32) -> anyhow::Result<()> {
    use gdal::raster::Buffer;
    use gdal::Metadata;
    let driver = gdal::DriverManager::get_driver_by_name("GTiff")?;
    let mut ds = driver.create_with_band_type::<f32, _>(path, 36, 18, 1)?;
    ds.set_geo_transform(&[-180.0, 10.0, 0.0, 90.0, 0.0, -10.0])?;
    ds.set_spatial_ref(&gdal::spatial_ref::SpatialRef::from_epsg(4326)?)?;
    ds.set_metadata_item("TIFFTAG_DATETIME", &format!("2024:01:0{day} 12:00:00"), "")?;
    let mut band = ds.rasterband(1)?;
    band.set_description("temperature")?;
    band.set_no_data_value(Some(-9999.0))?;
    let mut buffer = Buffer::new((36, 18), values.to_vec());
    band.write((0, 0), (36, 18), &mut buffer)?;
    Ok(())
}

fn write_netcdf(path: &Path, values: &[f32], day: u32) -> anyhow::Result<()> {
    let mut file = netcdf::create(path)?;
    file.add_unlimited_dimension("time")?;
    file.add_dimension("lat", 18)?;
    file.add_dimension("lon", 36)?;
    let mut time = file.add_variable::<f64>("time", &["time"])?;
    time.put_attribute("units", "days since 2024-01-01 00:00:00")?;
    time.put_attribute("calendar", "standard")?;
    time.put_attribute("standard_name", "time")?;
    time.put_values(&[(day - 1) as f64 + 0.5], ..)?;
    let lat_values: Vec<f32> = (0..18).map(|i| 85.0 - 10.0 * i as f32).collect();
    let lon_values: Vec<f32> = (0..36).map(|i| -175.0 + 10.0 * i as f32).collect();
    for (name, units, axis, data) in [
        ("lat", "degrees_north", "Y", &lat_values),
        ("lon", "degrees_east", "X", &lon_values),
    ] {
        let mut v = file.add_variable::<f32>(name, &[name])?;
        v.put_attribute("units", units)?;
        v.put_attribute("axis", axis)?;
        v.put_values(data, ..)?;
    }
    let mut t = file.add_variable::<f32>("temperature", &["time", "lat", "lon"])?;
    t.put_attribute("units", "K")?;
    t.put_attribute("long_name", "Air temperature")?;
    t.put_values(values, [0..1, 0..18, 0..36])?;
    file.add_attribute("title", "stacforge new-package example series")?;
    file.add_attribute("Conventions", "CF-1.8")?;
    Ok(())
}
