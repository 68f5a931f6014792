//! Where things go in a static catalog, and the links between them.
//!
//! ```text
//! collection.json
//! items/<id>/<id>.json
//! items/<id>/<asset files>
//! ```
//!
//! Links are relative, so the catalog can be moved or copied as a whole.

use chrono::{DateTime, Utc};
use serde_json::Value;
use stac::{Bbox, Collection, Item, Link};

/// The collection document at the catalog root.
pub const COLLECTION: &str = "collection.json";

/// The directory of an item, relative to the catalog root.
pub fn item_dir(id: &str) -> String {
    format!("items/{id}")
}

/// The item document, relative to the catalog root.
pub fn item_path(id: &str) -> String {
    format!("items/{id}/{id}.json")
}

/// Replaces an item's structural links with relative ones to the collection.
pub fn link_item(item: &mut Item, collection_id: &str) {
    item.links.retain(|l| !l.is_structural());
    let up = format!("../../{COLLECTION}");
    item.links.insert(0, Link::root(&up).json());
    item.links.insert(1, Link::parent(&up).json());
    item.links.insert(2, Link::collection(&up).json());
    item.collection = Some(collection_id.to_string());
}

/// What the collection needs to know of an item: read from the item's JSON
/// without the full model, so any valid STAC 1.1 item (including `"nan"`
/// nodata values, which rustac's model cannot hold yet) can be summarised.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemSummary {
    /// The item id.
    pub id: String,
    /// `[west, south, east, north]`, when the item has a bbox.
    pub bbox: Option<[f64; 4]>,
    /// Earliest time covered.
    pub start: Option<DateTime<Utc>>,
    /// Latest time covered.
    pub end: Option<DateTime<Utc>>,
}

impl ItemSummary {
    /// Reads the summary from an item's JSON; `None` if it has no string id.
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
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc))
        };
        Some(ItemSummary {
            id,
            bbox,
            start: time("start_datetime").or_else(|| time("datetime")),
            end: time("end_datetime").or_else(|| time("datetime")),
        })
    }
}

/// Replaces a collection's structural links with its root link and one
/// relative link per item (sorted by id, so output is deterministic).
pub fn link_collection(collection: &mut Collection, items: &[ItemSummary]) {
    collection.links.retain(|l| !l.is_structural());
    collection
        .links
        .insert(0, Link::root(format!("./{COLLECTION}")).json());
    let mut ids: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
    ids.sort_unstable();
    for id in ids {
        collection.links.push(
            Link::item(format!(
                "./{}",
                stacforge_core::href::encode(&item_path(id))
            ))
            .json(),
        );
    }
}

/// Sets the collection's spatial and temporal extents to cover the items.
pub fn set_extent(collection: &mut Collection, items: &[ItemSummary]) {
    let mut bbox: Option<[f64; 4]> = None;
    let mut crosses = false;
    for item in items {
        if let Some(b) = item.bbox {
            crosses |= b[0] > b[2];
            bbox = Some(match bbox {
                None => b,
                Some(a) => [
                    a[0].min(b[0]),
                    a[1].min(b[1]),
                    a[2].max(b[2]),
                    a[3].max(b[3]),
                ],
            });
        }
    }
    if let Some(mut b) = bbox {
        if crosses {
            // An item crosses the antimeridian: the union spans all longitudes.
            b[0] = -180.0;
            b[2] = 180.0;
        }
        collection.extent.spatial.bbox = vec![Bbox::TwoDimensional(b)];
    }
    let mut start: Option<DateTime<Utc>> = None;
    let mut end: Option<DateTime<Utc>> = None;
    for item in items {
        if let Some(t) = item.start {
            start = Some(start.map_or(t, |s| s.min(t)));
        }
        if let Some(t) = item.end {
            end = Some(end.map_or(t, |e| e.max(t)));
        }
    }
    if start.is_some() || end.is_some() {
        collection.extent.temporal.interval = vec![[start, end]];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, bbox: [f64; 4], t: &str) -> ItemSummary {
        let mut item = Item::new(id);
        item.bbox = Some(Bbox::TwoDimensional(bbox));
        item.properties.datetime = Some(t.parse().unwrap());
        ItemSummary::from_json(&serde_json::to_value(item).unwrap()).unwrap()
    }

    #[test]
    fn extent_covers_items_and_links_are_relative() {
        let items = vec![
            item("b", [0.0, 0.0, 1.0, 1.0], "2020-01-02T00:00:00Z"),
            item("a", [-5.0, 2.0, 0.5, 3.0], "2020-01-01T00:00:00Z"),
        ];
        let mut c = Collection::new("c", "d");
        set_extent(&mut c, &items);
        link_collection(&mut c, &items);
        assert_eq!(
            c.extent.spatial.bbox,
            vec![Bbox::TwoDimensional([-5.0, 0.0, 1.0, 3.0])]
        );
        let interval = c.extent.temporal.interval[0];
        assert_eq!(
            interval[0].unwrap().to_rfc3339(),
            "2020-01-01T00:00:00+00:00"
        );
        assert_eq!(
            interval[1].unwrap().to_rfc3339(),
            "2020-01-02T00:00:00+00:00"
        );
        let hrefs: Vec<&str> = c.links.iter().map(|l| l.href.as_str()).collect();
        assert_eq!(
            hrefs,
            ["./collection.json", "./items/a/a.json", "./items/b/b.json"]
        );
        let mut i = Item::new("b");
        link_item(&mut i, "c");
        assert!(i.links.iter().all(|l| l.href == "../../collection.json"));
    }
}
