//! Where things go in a static catalog, and the links between them.
//!
//! ```text
//! collection.json
//! items/<id>/<id>.json
//! items/<id>/<asset files>
//! ```
//!
//! Links are relative, so the catalog can be moved or copied as a whole.

use stac::{Collection, Item, Link};

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

pub use crate::summary::ItemSummary;

/// Replaces a collection's structural links with its root link and one
/// relative link per item (sorted by id, so output is deterministic).
pub fn link_collection<'a>(collection: &mut Collection, ids: impl IntoIterator<Item = &'a str>) {
    collection.links.retain(|l| !l.is_structural());
    collection
        .links
        .insert(0, Link::root(format!("./{COLLECTION}")).json());
    let mut ids: Vec<&str> = ids.into_iter().collect();
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
    let mut aggregate = crate::summary::Aggregate::default();
    for item in items {
        aggregate.add(item);
    }
    aggregate.apply_extent(collection);
}

#[cfg(test)]
mod tests {
    use super::*;
    use stac::Bbox;

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
        link_collection(&mut c, items.iter().map(|i| i.id.as_str()));
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
