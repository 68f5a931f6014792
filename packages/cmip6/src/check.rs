//! What is checked before a dataset is written: each file's name against
//! its global attributes, and the files against one another (calendar,
//! units, data type, and time coverage without gaps or overlaps, from the
//! names' time ranges).

use crate::drs::{FileName, NotDrs};
use serde_json::{Map, Value};
use stacforge_array::cf::{self, Calendar};
use stacforge_array::Inventory;
use std::path::{Path, PathBuf};

/// Why a file or a dataset is refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The name is not a DRS name.
    #[error("{}: {reason}", path.display())]
    Name { path: PathBuf, reason: NotDrs },
    /// The name and the global attributes disagree.
    #[error("{}: the file name says {facet} `{named}`, its global attribute `{facet}` says `{found}`", path.display())]
    Disagrees {
        path: PathBuf,
        facet: &'static str,
        named: String,
        found: String,
    },
    /// Something the file must have is missing or unreadable.
    #[error("{}: {reason}", path.display())]
    File { path: PathBuf, reason: String },
    /// Two files of one dataset cannot be combined.
    #[error("{} and {}: {what}", first.display(), second.display())]
    Mismatch {
        first: PathBuf,
        second: PathBuf,
        what: String,
    },
    /// The header could not be read.
    #[error(transparent)]
    Array(#[from] stacforge_array::Error),
}

/// A dataset as checked: its id, its files' facets and global attributes,
/// in time order.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// `CMIP6.<activity>....<grid>[.<version>]`.
    pub id: String,
    /// The activity and institution (from the directories, else the
    /// attributes).
    pub activity_id: String,
    pub institution_id: String,
    /// The files, in time order, with their names' facets and global
    /// attributes.
    pub files: Vec<(PathBuf, FileName, Map<String, Value>)>,
    /// The variable's CF calendar (`None` for fixed fields).
    pub calendar: Option<String>,
    /// Whether it is a fixed field (no time).
    pub fixed: bool,
    /// The variable's `long_name`.
    pub variable_long_name: Option<String>,
    /// Known errors corrected in the files' attributes ([`crate::errata`]).
    pub corrections: Vec<crate::errata::Applied>,
}

/// The dataset `path` belongs to, and its name's facets; activity and
/// institution come from the DRS directories, or else from the file's
/// global attributes.
pub fn dataset_of(path: &Path) -> Result<(String, FileName), Error> {
    identify(path, None)
}

/// [`dataset_of`], with the file's header when the caller has read it already.
fn identify(path: &Path, inventory: Option<&Inventory>) -> Result<(String, FileName), Error> {
    let name = FileName::parse(path).map_err(|reason| Error::Name {
        path: path.to_path_buf(),
        reason,
    })?;
    let (activity, institution) = match &name.directory {
        Some(d) => (d.activity_id.clone(), d.institution_id.clone()),
        None => {
            let read;
            let inventory = match inventory {
                Some(i) => i,
                None => {
                    read = Inventory::read(path, None)?;
                    &read
                }
            };
            let attr = |key: &str| required(path, &inventory.attrs, key);
            (first_word(&attr("activity_id")?), attr("institution_id")?)
        }
    };
    Ok((name.dataset_id(&activity, &institution), name))
}

/// A global attribute that must be there, as text.
fn required(path: &Path, attrs: &Map<String, Value>, key: &str) -> Result<String, Error> {
    match attrs.get(key) {
        Some(Value::String(s)) => Ok(s.trim().to_string()),
        Some(other) => Ok(other.to_string()),
        None => Err(Error::File {
            path: path.to_path_buf(),
            reason: format!("no global attribute `{key}`; it is not a CMIP6 file (CMOR writes it)"),
        }),
    }
}

fn first_word(s: &str) -> String {
    s.split_whitespace().next().unwrap_or_default().to_string()
}

/// Checks the files of one dataset (as planned: the same dataset id) and
/// returns it.
pub fn dataset(paths: &[PathBuf]) -> Result<Dataset, Error> {
    let mut files = Vec::new();
    let mut id = None;
    let mut corrections = Vec::new();
    for path in paths {
        let mut inventory = Inventory::read(path, None)?;
        let (this_id, name) = identify(path, Some(&inventory))?;
        match &id {
            None => id = Some(this_id.clone()),
            Some(first) if *first != this_id => {
                return Err(Error::Mismatch {
                    first: paths[0].clone(),
                    second: path.clone(),
                    what: format!("they are different datasets ({first} and {this_id})"),
                })
            }
            Some(_) => {}
        }
        let (attrs, applied) = crate::errata::correct(&this_id, &inventory.attrs);
        inventory.attrs = attrs;
        for a in applied {
            if !corrections.contains(&a) {
                corrections.push(a);
            }
        }
        agrees(path, &name, &inventory)?;
        files.push((path.clone(), name, inventory));
    }
    let id = id.expect("a unit has sources");
    // One variable, one calendar, one set of units, one type.
    let (first_path, first_name, first) = &files[0];
    let variable = &first_name.variable_id;
    let time_of = |inv: &Inventory| {
        inv.vars
            .iter()
            .find(|v| cf::is_time(v) && v.dims.len() == 1 && v.dims[0] == v.name)
            .cloned()
    };
    let first_time = time_of(first);
    let calendar = |t: &Option<stacforge_array::Variable>| {
        t.as_ref()
            .map(|t| t.attr_str("calendar").unwrap_or("standard").to_string())
    };
    for (path, _, inventory) in &files[1..] {
        let mismatch = |what: String| Error::Mismatch {
            first: first_path.clone(),
            second: path.clone(),
            what,
        };
        let time = time_of(inventory);
        let (a, b) = (calendar(&first_time), calendar(&time));
        let same_calendar = match (&a, &b) {
            (Some(a), Some(b)) => Calendar::parse(a) == Calendar::parse(b),
            (None, None) => true,
            _ => false,
        };
        if !same_calendar {
            return Err(mismatch(format!(
                "calendars differ: {} and {}",
                a.as_deref().unwrap_or("none (no time)"),
                b.as_deref().unwrap_or("none (no time)")
            )));
        }
        if let (Some(t0), Some(t)) = (&first_time, &time) {
            if t0.attr_str("units") != t.attr_str("units") {
                return Err(mismatch(format!(
                    "time units differ: {:?} and {:?}",
                    t0.attr_str("units").unwrap_or_default(),
                    t.attr_str("units").unwrap_or_default()
                )));
            }
        }
        let (v0, v) = (first.var(variable), inventory.var(variable));
        if let (Some(v0), Some(v)) = (v0, v) {
            if v0.attr_str("units") != v.attr_str("units") {
                return Err(mismatch(format!(
                    "`{variable}` has units {:?} and {:?}",
                    v0.attr_str("units").unwrap_or_default(),
                    v.attr_str("units").unwrap_or_default()
                )));
            }
            if v0.dtype != v.dtype {
                return Err(mismatch(format!(
                    "`{variable}` is {} and {}",
                    v0.type_name(),
                    v.type_name()
                )));
            }
        }
    }
    let fixed = first_time.is_none() && first_name.time_range.is_none();
    let variable_long_name = (first.var(variable))
        .and_then(|v| v.attr_str("long_name"))
        .map(str::to_string);
    let calendar_name = calendar(&first_time);
    if let Some(cal) = calendar_name.as_deref() {
        let cal = Calendar::parse(cal).ok_or_else(|| Error::File {
            path: first_path.clone(),
            reason: format!("calendar `{cal}` is not a CF calendar"),
        })?;
        continuous(&files, cal)?;
    }
    let (activity_id, institution_id) = {
        let parts: Vec<&str> = id.split('.').collect();
        (parts[1].to_string(), parts[2].to_string())
    };
    Ok(Dataset {
        id,
        activity_id,
        institution_id,
        files: files
            .into_iter()
            .map(|(p, n, inv)| (p, n, inv.attrs))
            .collect(),
        calendar: calendar_name,
        fixed,
        variable_long_name,
        corrections,
    })
}

/// The name's facets against the file's global attributes (and the
/// variable it names against the file's variables).
fn agrees(path: &Path, name: &FileName, inventory: &Inventory) -> Result<(), Error> {
    let attrs = &inventory.attrs;
    let checks: [(&'static str, &str); 7] = [
        ("variable_id", &name.variable_id),
        ("table_id", &name.table_id),
        ("source_id", &name.source_id),
        ("experiment_id", &name.experiment_id),
        ("grid_label", &name.grid_label),
        ("variant_label", name.variant_label()),
        ("sub_experiment_id", name.sub_experiment_id()),
    ];
    for (facet, named) in checks {
        let found = match attrs.get(facet) {
            Some(_) => required(path, attrs, facet)?,
            // Older files may lack sub_experiment_id; the rest CMOR writes.
            None if facet == "sub_experiment_id" => continue,
            None => required(path, attrs, facet)?,
        };
        if found != named {
            return Err(Error::Disagrees {
                path: path.to_path_buf(),
                facet,
                named: named.to_string(),
                found,
            });
        }
    }
    if let Some(dir) = &name.directory {
        for (facet, named) in [
            ("activity_id", &dir.activity_id),
            ("institution_id", &dir.institution_id),
        ] {
            let found = required(path, attrs, facet)?;
            // activity_id may list several activities ("C4MIP CDRMIP").
            if !found.split_whitespace().any(|w| w == named) {
                return Err(Error::Disagrees {
                    path: path.to_path_buf(),
                    facet,
                    named: named.clone(),
                    found,
                });
            }
        }
    }
    if inventory.var(&name.variable_id).is_none() {
        return Err(Error::File {
            path: path.to_path_buf(),
            reason: format!(
                "the file name names variable `{}`, which the file does not have",
                name.variable_id
            ),
        });
    }
    Ok(())
}

/// The files' time ranges (from their names) follow one another: each
/// starts one period after the previous one ends (a month for `YYYYMM`,
/// a day in the dataset's calendar for `YYYYMMDD`, ...). Sub-daily ranges
/// are only checked for order and overlap.
fn continuous(files: &[(PathBuf, FileName, Inventory)], calendar: Calendar) -> Result<(), Error> {
    for pair in files.windows(2) {
        let ((p0, n0, _), (p1, n1, _)) = (&pair[0], &pair[1]);
        let mismatch = |what: String| Error::Mismatch {
            first: p0.clone(),
            second: p1.clone(),
            what,
        };
        let (Some((_, end)), Some((start, _))) = (&n0.time_range, &n1.time_range) else {
            return Err(mismatch(
                "one has a time range in its name and the other none".to_string(),
            ));
        };
        if end.len() != start.len() {
            return Err(mismatch(format!(
                "their time ranges are of different forms ({end} and {start})"
            )));
        }
        if start <= end {
            return Err(mismatch(format!(
                "they overlap in time: the first ends {end}, the second starts {start}"
            )));
        }
        if let Some(next) = successor(end, calendar) {
            if *start != next {
                return Err(mismatch(format!(
                    "a gap in time: the first ends {end}, so the next should start {next}, but it starts {start}"
                )));
            }
        }
    }
    Ok(())
}

/// The period after `end` in its own form, where the form says the period
/// (`YYYY`, `YYYYMM`, `YYYYMMDD`).
fn successor(end: &str, calendar: Calendar) -> Option<String> {
    let n = |range: std::ops::Range<usize>| end.get(range)?.parse::<i64>().ok();
    match end.len() {
        4 => Some(format!("{:04}", n(0..4)? + 1)),
        6 => {
            let (y, m) = (n(0..4)?, n(4..6)?);
            let (y, m) = if m >= 12 { (y + 1, 1) } else { (y, m + 1) };
            Some(format!("{y:04}{m:02}"))
        }
        8 => {
            let day = calendar.day_number(n(0..4)?, n(4..6)?, n(6..8)?);
            let (y, m, d) = calendar.date(day + 1);
            Some(format!("{y:04}{m:02}{d:02}"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_period_is_in_the_calendar() {
        assert_eq!(successor("185012", Calendar::NoLeap).unwrap(), "185101");
        assert_eq!(successor("2004", Calendar::Standard).unwrap(), "2005");
        assert_eq!(successor("20000228", Calendar::NoLeap).unwrap(), "20000301");
        assert_eq!(
            successor("20000228", Calendar::Standard).unwrap(),
            "20000229"
        );
        assert_eq!(successor("20000230", Calendar::Day360).unwrap(), "20000301");
        assert_eq!(
            successor("19991231", Calendar::AllLeap).unwrap(),
            "20000101"
        );
        assert_eq!(successor("200001010000", Calendar::Standard), None);
    }
}
