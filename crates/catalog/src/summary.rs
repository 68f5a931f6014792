//! Collection metadata computed from its items, one item at a time:
//! extents, `summaries` and `item_assets`, and the item links.
//!
//! Each item contributes an [`ItemSummary`] (a few hundred bytes: its
//! bbox, time range, the properties worth summarising and its assets'
//! common fields); an [`Aggregate`] folds them in without keeping them, so
//! a collection of a million items costs its item ids and no more.
//!
//! Summaries follow the STAC best practices: a range (`minimum`,
//! `maximum`) for numeric properties, a set for categorical ones (strings,
//! booleans, arrays of strings such as `instruments`, and `gsd`). A string
//! property with more than [`MAX_SET`] distinct values (an id, a file
//! name) says nothing about the collection and is left out.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use stac::{Collection, ItemAsset};
use std::collections::BTreeMap;

/// The most distinct values a set summary keeps before it is dropped.
pub const MAX_SET: usize = 32;

/// Properties never summarised: the times (in the temporal extent
/// instead), free text and bookkeeping.
const SKIPPED: &[&str] = &[
    "datetime",
    "start_datetime",
    "end_datetime",
    "created",
    "updated",
    "title",
    "description",
    "processing:lineage",
    "proj:wkt2",
];

/// Strings longer than this are text, not categories.
const MAX_CATEGORY_LEN: usize = 200;

/// Numeric properties summarised as sets of values, not ranges.
const CATEGORICAL_NUMBERS: &[&str] = &["gsd"];

/// The asset fields `item_assets` carries (hrefs and per-file fields vary).
const ASSET_FIELDS: &[&str] = &["type", "roles", "title", "description"];

/// What the collection needs to know of one item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemSummary {
    /// The item id.
    pub id: String,
    /// `[west, south, east, north]`, when the item has a bbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bbox: Option<[f64; 4]>,
    /// Earliest time covered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<chrono::DateTime<chrono::Utc>>,
    /// Latest time covered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<chrono::DateTime<chrono::Utc>>,
    /// The properties that can be summarised (numbers, strings, booleans,
    /// arrays of strings), minus the times and free text.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub properties: Map<String, Value>,
    /// Each asset's `type`, `roles`, `title` and `description`.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub assets: Map<String, Value>,
}

impl ItemSummary {
    /// Reads the summary from an item's JSON; `None` if it has no string
    /// id. Read without the full model, so any valid STAC 1.1 item
    /// (including `"nan"` nodata values) can be summarised.
    pub fn from_json(item: &Value) -> Option<ItemSummary> {
        let id = item.get("id")?.as_str()?.to_string();
        let bbox = item.get("bbox").and_then(Value::as_array).and_then(|b| {
            let n: Vec<f64> = b.iter().filter_map(Value::as_f64).collect();
            match n.len() {
                4 => Some([n[0], n[1], n[2], n[3]]),
                6 => Some([n[0], n[1], n[3], n[4]]),
                _ => None,
            }
        });
        let time = |key: &str| {
            item.pointer(&format!("/properties/{key}"))
                .and_then(Value::as_str)
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&chrono::Utc))
        };
        let mut properties: Map<String, Value> = item
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| {
                p.iter()
                    .filter(|(k, v)| !SKIPPED.contains(&k.as_str()) && summarisable(v))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        // Fields the assets carry (`proj:code` on a COG, say), when the
        // item's properties do not: the assets' common value, or the set
        // of their strings.
        let mut from_assets: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for asset in item
            .get("assets")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|a| a.values())
        {
            for (key, value) in asset.as_object().into_iter().flatten() {
                let own = ASSET_FIELDS.contains(&key.as_str())
                    || key == "href"
                    || key.starts_with("file:")
                    || SKIPPED.contains(&key.as_str());
                if !own && summarisable(value) && !properties.contains_key(key) {
                    let values = from_assets.entry(key.clone()).or_default();
                    if !values.contains(value) {
                        values.push(value.clone());
                    }
                }
            }
        }
        for (key, mut values) in from_assets {
            if values.len() == 1 {
                properties.insert(key, values.remove(0));
            } else if values.iter().all(Value::is_string) {
                properties.insert(key, Value::Array(values));
            }
        }
        let assets = item
            .get("assets")
            .and_then(Value::as_object)
            .map(|assets| {
                assets
                    .iter()
                    .map(|(key, asset)| {
                        let fields: Map<String, Value> = ASSET_FIELDS
                            .iter()
                            .filter_map(|f| asset.get(*f).map(|v| (f.to_string(), v.clone())))
                            .collect();
                        (key.clone(), Value::Object(fields))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(ItemSummary {
            id,
            bbox,
            start: time("start_datetime").or_else(|| time("datetime")),
            end: time("end_datetime").or_else(|| time("datetime")),
            properties,
            assets,
        })
    }
}

fn summarisable(value: &Value) -> bool {
    match value {
        Value::Number(_) | Value::Bool(_) => true,
        Value::String(text) => text.len() <= MAX_CATEGORY_LEN,
        Value::Array(values) => {
            !values.is_empty()
                && values
                    .iter()
                    .all(|v| v.as_str().is_some_and(|t| t.len() <= MAX_CATEGORY_LEN))
        }
        _ => false,
    }
}

/// What is known of one property across the items so far.
#[derive(Debug, Clone)]
enum PropertySummary {
    Range(f64, f64),
    /// Distinct values by their JSON text (sorted, deterministic).
    Set(BTreeMap<String, Value>),
    /// Too many distinct values, or mixed kinds: not summarised.
    Dropped,
}

/// Collection metadata folded in from items one at a time.
#[derive(Debug, Default)]
pub struct Aggregate {
    ids: Vec<String>,
    bbox: Option<[f64; 4]>,
    crosses_antimeridian: bool,
    start: Option<chrono::DateTime<chrono::Utc>>,
    end: Option<chrono::DateTime<chrono::Utc>>,
    properties: BTreeMap<String, PropertySummary>,
    assets: BTreeMap<String, Option<Map<String, Value>>>,
}

impl Aggregate {
    /// Folds one item in.
    pub fn add(&mut self, item: &ItemSummary) {
        self.ids.push(item.id.clone());
        if let Some(b) = item.bbox {
            self.crosses_antimeridian |= b[0] > b[2];
            self.bbox = Some(match self.bbox {
                None => b,
                Some(a) => [
                    a[0].min(b[0]),
                    a[1].min(b[1]),
                    a[2].max(b[2]),
                    a[3].max(b[3]),
                ],
            });
        }
        if let Some(t) = item.start {
            self.start = Some(self.start.map_or(t, |s| s.min(t)));
        }
        if let Some(t) = item.end {
            self.end = Some(self.end.map_or(t, |e| e.max(t)));
        }
        for (key, value) in &item.properties {
            let entry = self.properties.entry(key.clone());
            let categorical = CATEGORICAL_NUMBERS.contains(&key.as_str());
            let summary = entry.or_insert_with(|| match value.as_f64() {
                Some(n) if !categorical => PropertySummary::Range(n, n),
                _ => PropertySummary::Set(BTreeMap::new()),
            });
            fold(summary, value);
        }
        for (key, fields) in &item.assets {
            let Some(fields) = fields.as_object() else {
                continue;
            };
            match self.assets.get_mut(key) {
                None => {
                    self.assets.insert(key.clone(), Some(fields.clone()));
                }
                // Keep only the fields every item agrees on.
                Some(Some(common)) => common.retain(|f, v| fields.get(f) == Some(v)),
                Some(None) => {}
            }
        }
    }

    /// How many items were folded in.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no item was folded in.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Sets the collection's spatial and temporal extents to cover the items.
    pub fn apply_extent(&self, collection: &mut Collection) {
        if let Some(mut b) = self.bbox {
            if self.crosses_antimeridian {
                // An item crosses the antimeridian: the union spans all longitudes.
                b[0] = -180.0;
                b[2] = 180.0;
            }
            collection.extent.spatial.bbox = vec![stac::Bbox::TwoDimensional(b)];
        }
        if self.start.is_some() || self.end.is_some() {
            collection.extent.temporal.interval = vec![[self.start, self.end]];
        }
    }

    /// Sets the collection's extents, summaries and item assets, and
    /// returns the item ids, sorted, for its links
    /// ([`crate::layout::collection_document`]). Summaries and item assets
    /// the package's static metadata already gives are kept as they are.
    pub fn apply(mut self, collection: &mut Collection) -> Vec<String> {
        self.apply_extent(collection);
        let mut summaries = collection.summaries.take().unwrap_or_default();
        for (key, summary) in std::mem::take(&mut self.properties) {
            if summaries.contains_key(&key) {
                continue;
            }
            match summary {
                PropertySummary::Range(min, max) => {
                    summaries.insert(
                        key,
                        serde_json::json!({"minimum": number(min), "maximum": number(max)}),
                    );
                }
                PropertySummary::Set(values) if !values.is_empty() => {
                    let mut values: Vec<Value> = values.into_values().collect();
                    values.sort_by(|a, b| match (a.as_f64(), b.as_f64()) {
                        (Some(x), Some(y)) => x.total_cmp(&y),
                        _ => a.to_string().cmp(&b.to_string()),
                    });
                    summaries.insert(key, Value::Array(values));
                }
                _ => {}
            }
        }
        collection.summaries = (!summaries.is_empty()).then_some(summaries);
        if collection.item_assets.is_empty() {
            for (key, fields) in std::mem::take(&mut self.assets) {
                let Some(fields) = fields.filter(|f| f.len() >= 2) else {
                    continue;
                };
                if let Ok(asset) = serde_json::from_value::<ItemAsset>(Value::Object(fields)) {
                    collection.item_assets.insert(key, asset);
                }
            }
        }
        self.ids.sort_unstable();
        self.ids
    }
}

/// Adds one value to a property's summary.
fn fold(summary: &mut PropertySummary, value: &Value) {
    match summary {
        PropertySummary::Range(min, max) => match value.as_f64() {
            Some(n) => {
                *min = min.min(n);
                *max = max.max(n);
            }
            None => *summary = PropertySummary::Dropped,
        },
        PropertySummary::Set(values) => {
            let items: Vec<&Value> = match value {
                Value::Array(items) => items.iter().collect(),
                other => vec![other],
            };
            for item in items {
                values
                    .entry(item.to_string())
                    .or_insert_with(|| item.clone());
            }
            if values.len() > MAX_SET {
                *summary = PropertySummary::Dropped;
            }
        }
        PropertySummary::Dropped => {}
    }
}

/// A number as JSON, integral values without a fraction.
fn number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        Value::from(n as i64)
    } else {
        Value::from(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(id: &str, bbox: [f64; 4], t: &str, properties: Value) -> ItemSummary {
        let mut props = properties.as_object().unwrap().clone();
        props.insert("datetime".into(), json!(t));
        ItemSummary::from_json(&json!({
            "id": id, "bbox": bbox, "properties": props,
            "assets": {"data": {"href": format!("./{id}.tif"), "type": "image/tiff", "roles": ["data"], "title": id, "proj:code": "EPSG:3413", "file:size": 1}},
        }))
        .unwrap()
    }

    #[test]
    fn summaries_are_ranges_and_sets_and_item_assets_the_common_fields() {
        let mut aggregate = Aggregate::default();
        aggregate.add(&item(
            "b",
            [0.0, 0.0, 1.0, 1.0],
            "2020-01-02T00:00:00Z",
            json!({"proj:code": "EPSG:32633", "gsd": 30, "platform": "terra", "instruments": ["modis"], "eo:cloud_cover": 12.5, "proj:shape": [10, 10]}),
        ));
        aggregate.add(&item(
            "a",
            [-5.0, 2.0, 0.5, 3.0],
            "2020-01-01T00:00:00Z",
            json!({"proj:code": "EPSG:4326", "gsd": 10, "platform": "aqua", "instruments": ["modis"], "eo:cloud_cover": 3}),
        ));
        let mut c = Collection::new("c", "d");
        let ids = aggregate.apply(&mut c);
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(
            c.extent.spatial.bbox,
            vec![stac::Bbox::TwoDimensional([-5.0, 0.0, 1.0, 3.0])]
        );
        let s = c.summaries.unwrap();
        assert_eq!(s["proj:code"], json!(["EPSG:32633", "EPSG:4326"]));
        assert_eq!(s["gsd"], json!([10, 30]));
        assert_eq!(s["platform"], json!(["aqua", "terra"]));
        assert_eq!(s["instruments"], json!(["modis"]));
        assert_eq!(s["eo:cloud_cover"], json!({"minimum": 3, "maximum": 12.5}));
        assert!(!s.contains_key("proj:shape") && !s.contains_key("datetime"));
        assert!(!s.contains_key("file:size"));
        let data = &c.item_assets["data"];
        assert_eq!(data.r#type.as_deref(), Some("image/tiff"));
        assert_eq!(data.title, None, "titles differ between items");
    }

    #[test]
    fn a_property_with_too_many_values_is_not_summarised() {
        let mut aggregate = Aggregate::default();
        for i in 0..=MAX_SET {
            aggregate.add(&item(
                &format!("i{i}"),
                [0.0, 0.0, 1.0, 1.0],
                "2020-01-01T00:00:00Z",
                json!({"granule": format!("g{i}"), "platform": "terra"}),
            ));
        }
        let mut c = Collection::new("c", "d");
        aggregate.apply(&mut c);
        let s = c.summaries.unwrap();
        assert!(!s.contains_key("granule"), "{s:?}");
        assert_eq!(s["platform"], json!(["terra"]));
    }
}
