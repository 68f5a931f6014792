//! Appending to references (only the new files read) and verifying that
//! the recorded sources are unchanged.

use super::*;

/// What an append did.
#[derive(Debug, Clone, Default)]
pub struct AppendOutcome {
    /// Sources added.
    pub added: Vec<SourceRecord>,
    /// Sources already present (skipped).
    pub skipped: Vec<SourceRecord>,
    /// Sources left out as bad ([`Recipe::skip_bad`]), with the reason.
    pub left_out: Vec<(std::path::PathBuf, String)>,
}

/// Adds the recipe's sources to existing references along their
/// concatenation dimension, reading only the new files. Sources already
/// present (same size and checksum) are skipped; a new file whose
/// variables differ (type, chunks, codecs, fill value, packing) or that
/// does not continue the axis is refused, naming it and the difference.
pub fn append(
    recipe: &Recipe,
    existing: &References,
    origin: &Path,
    options: &RefOptions,
) -> Result<(References, AppendOutcome)> {
    let record = existing.record(origin)?;
    let concat = record.concat_dim.clone().ok_or_else(|| Error::Store {
        store: origin.to_path_buf(),
        message: "these references have no concatenation dimension to append along".into(),
    })?;
    let (fresh, skipped) =
        recipe::split_recorded(&recipe.sources, record.sources.iter().map(|s| &s.record))?;
    let mut outcome = AppendOutcome {
        skipped,
        ..AppendOutcome::default()
    };
    if fresh.is_empty() {
        return Ok((existing.clone(), outcome));
    }
    let plan = recipe::plan(&Recipe {
        sources: fresh,
        concat_dim: Some(concat.clone()),
        ..recipe.clone()
    })?;
    let before = record.sources.iter().map(|s| s.record.steps).sum::<usize>();
    // The new files must match the references variable by variable.
    let (first, first_record, _, _) = plan.sources().next().expect("planned");
    let index = Index::open(&first.path)?;
    let url = source_url(&first.path, &first_record.href, options);
    let stored_inventory = existing.inventory(origin)?;
    for name in existing.arrays() {
        if first.var(&name).is_none() {
            return Err(Error::Append {
                path: first.path.clone(),
                message: format!("it lacks variable `{name}` that the references have"),
            });
        }
    }
    for spec in &plan.specs {
        let name = &spec.name;
        let Some(stored_var) = stored_inventory.var(name) else {
            return Err(Error::Append {
                path: first.path.clone(),
                message: format!("variable `{name}` is not in the references"),
            });
        };
        let stored = existing.json_at(&format!("{name}/.zarray"), origin)?;
        let vr = var_refs(
            first,
            name,
            &url,
            options,
            plan.is_placeholder(name),
            &index,
            None,
            true,
        )?;
        for key in ["dtype", "filters", "compressor", "fill_value"] {
            if stored[key] != vr.zarray[key] {
                return Err(Error::Append {
                    path: first.path.clone(),
                    message: format!(
                        "`{name}` has {key} {} where the references have {}",
                        vr.zarray[key], stored[key]
                    ),
                });
            }
        }
        let var = first.var(name).expect("planned");
        for key in [
            "scale_factor",
            "add_offset",
            "units",
            "calendar",
            "missing_value",
        ] {
            if !cf::same_encoding(key, stored_var.attrs.get(key), var.attrs.get(key)) {
                let show =
                    |v: Option<&Value>| v.map_or_else(|| "absent".to_string(), Value::to_string);
                return Err(Error::Append {
                    path: first.path.clone(),
                    message: format!(
                        "`{name}:{key}` is {} in this file and {} in the references",
                        show(var.attrs.get(key)),
                        show(stored_var.attrs.get(key))
                    ),
                });
            }
        }
    }
    // The axis continues.
    if let Some(coord) = cf::coordinate(&stored_inventory, &concat) {
        plan.check_continues(origin, &existing.inline_values(&coord.name, origin)?)?;
    }
    // The grid is the references' grid, by value: inlined values, else the
    // values in the first recorded file (the one the references point to).
    let holder = record.sources.first().map(|s| s.record.href.clone());
    let mut reader = None;
    plan.check_grid(
        origin,
        holder.as_deref().unwrap_or(&origin.display().to_string()),
        |name| {
            if existing.refs.contains_key(&format!("{name}/.zarray")) {
                if let Ok(values) = existing.inline_values(name, origin) {
                    return Ok(Some(values));
                }
            }
            let Some(path) = holder.as_deref().map(Path::new).filter(|p| p.is_file()) else {
                return Ok(None);
            };
            if reader.is_none() {
                reader = Some(crate::inventory::Reader::open(
                    path,
                    recipe.group.as_deref(),
                )?);
            }
            let reader = reader.as_ref().expect("opened above");
            match reader.inventory()?.var(name) {
                Some(var) if var.dtype.is_some() => reader.read_f64(var).map(Some),
                _ => Ok(None),
            }
        },
    )?;
    let refs = build(&plan, options, Some((existing, origin, before)))?;
    outcome.added = plan.records();
    outcome.left_out = plan.skipped.clone();
    Ok((refs, outcome))
}

/// A recorded source that no longer matches its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    /// The file.
    pub href: String,
    /// What differs.
    pub reason: String,
}

/// Checks every recorded source against its file (size, then checksum).
/// `locate` gives the local file of a recorded href (an object's URL is
/// fetched, or its unchanged copy found), or why there is none.
pub fn verify(
    refs: &References,
    origin: &Path,
    locate: &dyn Fn(&str) -> std::result::Result<std::path::PathBuf, String>,
) -> Result<Vec<Changed>> {
    let record = refs.record(origin)?;
    let mut changed = Vec::new();
    for s in &record.sources {
        let reason = match locate(&s.record.href) {
            Err(e) => Some(format!("cannot be read: {e}")),
            Ok(path) => match std::fs::metadata(&path) {
                Err(e) => Some(format!("cannot be read: {e}")),
                Ok(m) if m.len() != s.record.size => Some(format!(
                    "size {} is not the recorded {}",
                    m.len(),
                    s.record.size
                )),
                Ok(_) => match stacforge_core::Source::from_path(&path) {
                    Ok(now) if now.checksum != s.record.checksum => {
                        Some("checksum differs from the recorded one".to_string())
                    }
                    Ok(_) => None,
                    Err(e) => Some(e.to_string()),
                },
            },
        };
        if let Some(reason) = reason {
            changed.push(Changed {
                href: s.record.href.clone(),
                reason,
            });
        }
    }
    Ok(changed)
}
