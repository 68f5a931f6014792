//! Collection metadata computed from its items, one item at a time:
//! extents, `summaries`, `item_assets`, `renders`, the time density
//! (`dashboard:time_density`, `dashboard:is_periodic`) and the item links.
//!
//! Each item contributes an [`ItemSummary`] (a few hundred bytes: its
//! bbox, time range, the properties worth summarising, its assets' common
//! fields and its renders, which hold a palette's colour map where there
//! is one); an [`Aggregate`] folds them in without keeping them, so a
//! collection of a million items costs its item ids and start times and
//! no more.
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
    /// The item's `renders` (render extension).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub renders: Map<String, Value>,
    /// The step of the item's time dimension (`cube:dimensions`), as an
    /// ISO 8601 duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_step: Option<String>,
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
        let renders = (item.pointer("/properties/renders"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let time_step = (item.pointer("/properties/cube:dimensions"))
            .and_then(Value::as_object)
            .and_then(|dims| {
                dims.values()
                    .find(|d| d.get("type").and_then(Value::as_str) == Some("temporal"))
            })
            .and_then(|d| d.get("step")?.as_str().map(str::to_string))
            .or_else(|| {
                let frequency = item.pointer("/properties/cmip6:frequency")?.as_str()?;
                frequency_step(frequency).map(str::to_string)
            });
        Some(ItemSummary {
            id,
            bbox,
            start: time("start_datetime").or_else(|| time("datetime")),
            end: time("end_datetime").or_else(|| time("datetime")),
            properties,
            assets,
            renders,
            time_step,
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
    renders: BTreeMap<String, Map<String, Value>>,
    /// Each item's start, for the time density.
    times: Vec<chrono::DateTime<chrono::Utc>>,
    time_steps: std::collections::BTreeSet<String>,
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
        if let Some(t) = item.start {
            self.times.push(t);
        }
        if let Some(step) = &item.time_step {
            self.time_steps.insert(step.clone());
        }
        for (name, render) in &item.renders {
            let Some(render) = render.as_object() else {
                continue;
            };
            match self.renders.get_mut(name) {
                None => {
                    self.renders.insert(name.clone(), render.clone());
                }
                Some(common) => merge_render(common, render),
            }
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
                // Every asset, with the fields all items agree on; the key
                // as its title when they agree on too little (the
                // extension asks for two fields).
                let Some(mut fields) = fields else { continue };
                if fields.len() < 2 && !fields.contains_key("title") {
                    fields.insert("title".into(), Value::String(key.clone()));
                }
                if fields.len() < 2 {
                    continue;
                }
                if let Ok(asset) = serde_json::from_value::<ItemAsset>(Value::Object(fields)) {
                    collection.item_assets.insert(key, asset);
                }
            }
        }
        let fields = &mut collection.additional_fields;
        if !fields.contains_key("renders") && !self.renders.is_empty() {
            let renders: Map<String, Value> = std::mem::take(&mut self.renders)
                .into_iter()
                .map(|(name, render)| (name, Value::Object(render)))
                .collect();
            fields.insert("renders".into(), Value::Object(renders));
        }
        if fields.contains_key("renders")
            && !collection.extensions.iter().any(|e| e == RENDER_EXTENSION)
        {
            collection.extensions.push(RENDER_EXTENSION.to_string());
        }
        let fields = &mut collection.additional_fields;
        if !fields.contains_key(TIME_DENSITY) {
            if let Some((density, periodic)) = time_density(&mut self.times, &self.time_steps) {
                fields.insert(
                    TIME_DENSITY.into(),
                    density.map_or(Value::Null, Value::from),
                );
                fields.insert(IS_PERIODIC.into(), Value::Bool(periodic));
            }
        }
        self.ids.sort_unstable();
        self.ids
    }
}

/// The render extension's schema.
const RENDER_EXTENSION: &str = stacforge_core::extension::RENDER;

/// How finely the collection's data is spaced in time (`year`, `month`,
/// `day`, `hour`, `minute`), as dashboards (VEDA) read it.
pub const TIME_DENSITY: &str = "dashboard:time_density";

/// Whether the items (or time steps) come at a regular interval.
pub const IS_PERIODIC: &str = "dashboard:is_periodic";

/// Folds one item's render into the collection's: rescale ranges widen to
/// cover both; any other field the items disagree on (a title naming the
/// item's date, say) is dropped, except the assets shown.
fn merge_render(common: &mut Map<String, Value>, render: &Map<String, Value>) {
    let ranges = |r: &Map<String, Value>| -> Option<Vec<[f64; 2]>> {
        (r.get("rescale")?.as_array()?.iter())
            .map(|pair| {
                let pair = pair.as_array()?;
                Some([pair.first()?.as_f64()?, pair.get(1)?.as_f64()?])
            })
            .collect()
    };
    match (ranges(common), ranges(render)) {
        (Some(a), Some(b)) if a.len() == b.len() => {
            let wider: Vec<Value> = (a.iter().zip(&b))
                .map(|(x, y)| serde_json::json!([number(x[0].min(y[0])), number(x[1].max(y[1]))]))
                .collect();
            common.insert("rescale".into(), Value::Array(wider));
        }
        (Some(_), _) | (_, Some(_)) => {
            common.remove("rescale");
        }
        _ => {}
    }
    common.retain(|key, value| {
        matches!(key.as_str(), "rescale" | "assets") || render.get(key) == Some(value)
    });
}

/// The time density and periodicity: from the items' time step where they
/// have one (a data cube's), else from the gaps between the items' starts.
/// `None` without times; a density of `None` for a single time.
fn time_density(
    times: &mut Vec<chrono::DateTime<chrono::Utc>>,
    steps: &std::collections::BTreeSet<String>,
) -> Option<(Option<&'static str>, bool)> {
    if let Some(step) = steps.iter().next() {
        let density = step_density(step)?;
        return Some((Some(density), steps.len() == 1));
    }
    times.sort_unstable();
    times.dedup();
    if times.len() < 2 {
        return (!times.is_empty()).then_some((None, false));
    }
    use chrono::Datelike;
    let month_end = |t: &chrono::DateTime<chrono::Utc>| (*t + chrono::Days::new(1)).day() == 1;
    // Each gap in the coarsest unit that measures it exactly.
    let gaps: Vec<(u8, i64)> = times
        .windows(2)
        .map(|w| {
            let (a, b) = (w[0], w[1]);
            let same_time = a.time() == b.time();
            let months = (b.year() - a.year()) as i64 * 12 + b.month() as i64 - a.month() as i64;
            let seconds = (b - a).num_seconds();
            if same_time && (a.day() == b.day() || (month_end(&a) && month_end(&b))) {
                if months % 12 == 0 {
                    (4, months / 12)
                } else {
                    (3, months)
                }
            } else if seconds % 86_400 == 0 {
                (2, seconds / 86_400)
            } else if seconds % 3_600 == 0 {
                (1, seconds / 3_600)
            } else {
                (0, seconds / 60)
            }
        })
        .collect();
    let unit = gaps.iter().map(|g| g.0).min().expect("two times");
    // The gaps in that finer unit, for periodicity.
    let in_unit: Vec<i64> = (gaps.iter().zip(times.windows(2)))
        .map(|(&(u, n), w)| match (u, unit) {
            (u, v) if u == v => n,
            (4, 3) => n * 12,
            _ => {
                let seconds = (w[1] - w[0]).num_seconds();
                seconds / [60, 3_600, 86_400][unit.min(2) as usize]
            }
        })
        .collect();
    let periodic = in_unit.windows(2).all(|w| w[0] == w[1]);
    let density = ["minute", "hour", "day", "month", "year"][unit as usize];
    Some((Some(density), periodic))
}

/// The time step a CMIP6 `frequency` (CMOR's vocabulary) names, for data
/// cubes whose steps are irregular (months of the calendar); `None` for
/// fixed fields.
fn frequency_step(frequency: &str) -> Option<&'static str> {
    let base = frequency.trim_end_matches("Pt").trim_end_matches('C');
    match base {
        "dec" | "yr" => Some("P1Y"),
        "mon" => Some("P1M"),
        "day" => Some("P1D"),
        "6hr" | "3hr" | "1hr" | "1hrCM" => Some("PT1H"),
        "subhr" => Some("PT1M"),
        _ => None,
    }
}

/// The density an ISO 8601 duration's smallest unit gives (`P1M` → month,
/// `PT6H` → hour).
fn step_density(step: &str) -> Option<&'static str> {
    let rest = step.strip_prefix('P')?;
    let (date, time) = rest.split_once('T').unwrap_or((rest, ""));
    if time.contains('S') || time.contains('M') {
        Some("minute")
    } else if time.contains('H') {
        Some("hour")
    } else if date.contains('D') || date.contains('W') {
        Some("day")
    } else if date.contains('M') {
        Some("month")
    } else if date.contains('Y') {
        Some("year")
    } else {
        None
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
    fn renders_widen_across_items_and_time_density_follows_the_gaps() {
        let with_render = |id: &str, t: &str, low: f64, high: f64| {
            ItemSummary::from_json(&json!({
                "id": id, "properties": {"datetime": t, "renders": {"default": {
                    "assets": ["data"], "rescale": [[low, high]], "colormap_name": "viridis", "title": id}}},
                "assets": {"data": {"href": "./a.tif", "roles": ["data"]}},
            }))
            .unwrap()
        };
        let mut aggregate = Aggregate::default();
        aggregate.add(&with_render("a", "2021-01-31T00:00:00Z", 1.0, 5.0));
        aggregate.add(&with_render("b", "2021-02-28T00:00:00Z", 0.5, 4.0));
        aggregate.add(&with_render("c", "2021-03-31T00:00:00Z", 2.0, 9.0));
        let mut c = Collection::new("c", "d");
        aggregate.apply(&mut c);
        let render = &c.additional_fields["renders"]["default"];
        assert_eq!(render["rescale"], json!([[0.5, 9]]));
        assert_eq!(render["colormap_name"], json!("viridis"));
        assert!(c.extensions.iter().any(|e| e.contains("/render/")));
        assert_eq!(c.additional_fields[TIME_DENSITY], json!("month"));
        assert_eq!(c.additional_fields[IS_PERIODIC], json!(true));
        let data = &c.item_assets["data"];
        assert_eq!(
            data.title.as_deref(),
            Some("data"),
            "every asset is covered"
        );

        let density = |times: &[&str]| {
            let mut times: Vec<_> = times.iter().map(|t| t.parse().unwrap()).collect();
            time_density(&mut times, &Default::default())
        };
        assert_eq!(
            density(&[
                "2020-01-01T00:00:00Z",
                "2021-01-01T00:00:00Z",
                "2023-01-01T00:00:00Z"
            ]),
            Some((Some("year"), false))
        );
        assert_eq!(
            density(&[
                "2020-01-01T00:00:00Z",
                "2020-01-02T00:00:00Z",
                "2020-01-03T00:00:00Z"
            ]),
            Some((Some("day"), true))
        );
        assert_eq!(
            density(&[
                "2020-01-01T00:00:00Z",
                "2020-02-01T00:00:00Z",
                "2020-02-02T00:00:00Z"
            ]),
            Some((Some("day"), false))
        );
        assert_eq!(density(&["2020-01-01T00:00:00Z"]), Some((None, false)));
        let steps = ["PT6H".to_string()].into_iter().collect();
        assert_eq!(
            time_density(&mut vec![], &steps),
            Some((Some("hour"), true))
        );
        assert_eq!(step_density("P1M"), Some("month"));
        assert_eq!(frequency_step("monPt"), Some("P1M"));
        assert_eq!(frequency_step("1hrCM"), Some("PT1H"));
        assert_eq!(frequency_step("fx"), None);
        assert_eq!(step_density("P1D"), Some("day"));
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
