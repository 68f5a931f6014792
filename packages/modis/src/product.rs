//! What a granule is: its product, collection version, tile and dates from
//! the LP DAAC file name, and each product family's static metadata
//! (`data/products/<family>.json`: titles, descriptions, authors, grid
//! resolutions, and `item_assets`: each science dataset's asset as items
//! have it, with the classes and bit fields of categorical and QA datasets).

use chrono::{NaiveDate, NaiveDateTime};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// The product family files, by family (the short name without its
/// MOD/MYD/MCD platform prefix).
const FAMILIES: &[(&str, &str)] = &[
    ("09A1", include_str!("../data/products/09A1.json")),
    ("09GA", include_str!("../data/products/09GA.json")),
    ("10A1", include_str!("../data/products/10A1.json")),
    ("10A2", include_str!("../data/products/10A2.json")),
    ("11A1", include_str!("../data/products/11A1.json")),
    ("11A2", include_str!("../data/products/11A2.json")),
    ("12Q1", include_str!("../data/products/12Q1.json")),
    ("13A1", include_str!("../data/products/13A1.json")),
    ("13Q1", include_str!("../data/products/13Q1.json")),
    ("15A2H", include_str!("../data/products/15A2H.json")),
    ("16A2", include_str!("../data/products/16A2.json")),
    ("17A2H", include_str!("../data/products/17A2H.json")),
    ("43A4", include_str!("../data/products/43A4.json")),
    ("64A1", include_str!("../data/products/64A1.json")),
];

/// A product family's static metadata.
#[derive(Debug, Clone, Deserialize)]
pub struct Family {
    pub family: String,
    /// Title with a `{platform}` placeholder (Terra, Aqua, Terra+Aqua).
    pub title: String,
    pub description: String,
    pub provider: String,
    pub authors: String,
    /// Ground sample distance in metres, by EOS grid name.
    pub gsd: BTreeMap<String, f64>,
    /// The compositing period (ISO 8601 duration).
    pub period: String,
    pub keywords: Vec<String>,
    /// Collection versions: "006", "061".
    pub versions: BTreeMap<String, VersionInfo>,
    /// Each science dataset's asset, by asset key: title, media type,
    /// roles, gsd, bands, and classification classes or bit fields.
    pub item_assets: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct VersionInfo {
    pub status: String,
}

impl Family {
    /// The family of a short name such as `MOD11A1`, if stacforge knows it.
    pub fn of(short_name: &str) -> Option<Family> {
        platform(short_name)?;
        let family = short_name.get(3..)?;
        FAMILIES
            .iter()
            .find(|(name, _)| *name == family)
            .map(|(_, text)| serde_json::from_str(text).expect("product files are valid (tested)"))
    }

    /// Every family stacforge knows.
    pub fn all() -> Vec<Family> {
        FAMILIES
            .iter()
            .map(|(_, text)| serde_json::from_str(text).expect("product files are valid (tested)"))
            .collect()
    }
}

/// The platform of a short name's prefix.
pub fn platform(short_name: &str) -> Option<&'static str> {
    match short_name.get(..3)? {
        "MOD" => Some("Terra"),
        "MYD" => Some("Aqua"),
        "MCD" => Some("Terra+Aqua"),
        _ => None,
    }
}

/// What an LP DAAC/NSIDC file name says:
/// `MOD11A1.A2022185.h08v05.061.2022042050729.hdf`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName {
    pub short_name: String,
    /// The first day of the acquisition period (`A` + year + day of year).
    pub acquired: NaiveDate,
    pub horizontal_tile: u32,
    pub vertical_tile: u32,
    /// Collection version, three digits.
    pub version: String,
    /// When the granule was produced (year, day of year, hour, minute, second).
    pub produced: NaiveDateTime,
}

impl FileName {
    /// Parses a granule's file name; `None` when it does not follow the
    /// naming convention (a renamed file is described from its metadata).
    pub fn parse(name: &str) -> Option<FileName> {
        let parts: Vec<&str> = name.split('.').collect();
        let [short_name, acquired, tile, version, produced, ..] = parts.as_slice() else {
            return None;
        };
        let acquired = NaiveDate::parse_from_str(acquired.strip_prefix('A')?, "%Y%j").ok()?;
        let (h, v) = tile.strip_prefix('h')?.split_once('v')?;
        let is_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !(is_digits(version)
            && version.len() == 3
            && is_digits(produced)
            && produced.len() == 13)
        {
            return None;
        }
        Some(FileName {
            short_name: short_name.to_string(),
            acquired,
            horizontal_tile: h.parse().ok()?,
            vertical_tile: v.parse().ok()?,
            version: version.to_string(),
            produced: NaiveDateTime::parse_from_str(produced, "%Y%j%H%M%S").ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_file_parses_and_names_itself() {
        let all = Family::all();
        assert_eq!(all.len(), FAMILIES.len());
        for (name, family) in FAMILIES.iter().zip(&all) {
            assert_eq!(name.0, family.family);
            assert!(family.title.contains("{platform}"), "{}", family.family);
            assert!(family.versions.contains_key("061"), "{}", family.family);
            assert!(!family.gsd.is_empty(), "{}", family.family);
            assert!(!family.item_assets.is_empty(), "{}", family.family);
        }
    }

    #[test]
    fn file_names() {
        let n = FileName::parse("MOD11A1.A2022185.h08v05.061.2022042050729.hdf").unwrap();
        assert_eq!(n.short_name, "MOD11A1");
        assert_eq!(n.acquired, NaiveDate::from_ymd_opt(2022, 7, 4).unwrap());
        assert_eq!((n.horizontal_tile, n.vertical_tile), (8, 5));
        assert_eq!(n.version, "061");
        assert_eq!(n.produced.to_string(), "2022-02-11 05:07:29");
        assert!(FileName::parse("granule.hdf").is_none());
        assert!(FileName::parse("MOD11A1.A2022185.h08v05.61.2022042050729.hdf").is_none());
        assert_eq!(Family::of("MYD11A2").unwrap().family, "11A2");
        assert!(Family::of("VNP13A1").is_none(), "VIIRS has its own layouts");
        assert_eq!(platform("MCD43A4"), Some("Terra+Aqua"));
        assert_eq!(platform("VNP13A1"), None);
    }
}
