//! Known errors in published files' global attributes (`data/errata.json`):
//! a file whose attributes disagree with its name is refused, unless an
//! erratum for its dataset says exactly which value it has and what it
//! should be. The corrections are listed on the item; the files and the
//! data written from them keep the attributes as published.

use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::OnceLock;

#[derive(Debug, Deserialize)]
struct Errata {
    errata: Vec<Erratum>,
}

/// One known error, for the datasets whose id matches a glob pattern.
#[derive(Debug, Clone, Deserialize)]
pub struct Erratum {
    /// Dataset ids (a glob pattern over `CMIP6.<activity>....`).
    pub datasets: String,
    /// Attribute → its published and its corrected value.
    pub corrections: BTreeMap<String, Correction>,
    /// What went wrong.
    pub reason: String,
    /// Where it is documented.
    pub reference: String,
}

/// A published value and what it should have been.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Correction {
    pub published: String,
    pub corrected: String,
}

/// A correction made to a file's attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub attribute: String,
    pub correction: Correction,
    pub reference: String,
}

fn known() -> &'static [Erratum] {
    static KNOWN: OnceLock<Vec<Erratum>> = OnceLock::new();
    KNOWN.get_or_init(|| {
        serde_json::from_str::<Errata>(include_str!("../data/errata.json"))
            .expect("data/errata.json is valid (a unit test reads it)")
            .errata
    })
}

/// `attrs` with the known errors of dataset `id` corrected, and the
/// corrections made.
pub fn correct(id: &str, attrs: &Map<String, Value>) -> (Map<String, Value>, Vec<Applied>) {
    let mut fixed = attrs.clone();
    let mut applied = Vec::new();
    for erratum in known() {
        let matches = glob::Pattern::new(&erratum.datasets).is_ok_and(|p| p.matches(id));
        if !matches {
            continue;
        }
        for (attribute, correction) in &erratum.corrections {
            if attrs.get(attribute).and_then(Value::as_str).map(str::trim)
                == Some(correction.published.as_str())
            {
                fixed.insert(
                    attribute.clone(),
                    Value::String(correction.corrected.clone()),
                );
                applied.push(Applied {
                    attribute: attribute.clone(),
                    correction: correction.clone(),
                    reference: erratum.reference.clone(),
                });
            }
        }
    }
    (fixed, applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errata_apply_to_their_datasets_and_published_values_only() {
        assert!(!known().is_empty());
        let attrs: Map<String, Value> =
            serde_json::from_str(r#"{"table_id": "Amon", "frequency": "mon"}"#).unwrap();
        let id =
            "CMIP6.DCPP.DWD.MPI-ESM1-2-LR.dcppA-hindcast.s1980-r1i1p1f1.day.tasmax.gn.v20220126";
        let (fixed, applied) = correct(id, &attrs);
        assert_eq!(fixed["table_id"], "day");
        assert_eq!(fixed["frequency"], "day");
        assert_eq!(applied.len(), 2);
        // Another dataset, or another published value: untouched.
        let other = id.replace("DWD", "MPI-M");
        assert_eq!(correct(&other, &attrs).1, vec![]);
        let right: Map<String, Value> = serde_json::from_str(r#"{"table_id": "day"}"#).unwrap();
        assert_eq!(correct(id, &right).1, vec![]);
    }
}
