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

/// The link from the collection to an item.
fn item_link(id: &str) -> Link {
    Link::item(format!(
        "./{}",
        stacforge_core::href::encode(&item_path(id))
    ))
    .json()
}

/// The collection document, pretty JSON: the collection with its
/// structural links replaced by its root link and one relative link per
/// item id (in the order given), each made as it is written, so a
/// collection of many items costs their ids and its own bytes, not a link
/// object per item.
pub fn collection_document(collection: &Collection, ids: &[String]) -> serde_json::Result<Vec<u8>> {
    use serde::ser::{SerializeMap, SerializeSeq};
    struct Links<'a>(&'a [serde_json::Value], &'a [String]);
    impl serde::Serialize for Links<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut seq = s.serialize_seq(Some(self.0.len() + self.1.len()))?;
            for link in self.0 {
                seq.serialize_element(link)?;
            }
            for id in self.1 {
                seq.serialize_element(&item_link(id))?;
            }
            seq.end()
        }
    }
    struct Document<'a>(
        serde_json::Map<String, serde_json::Value>,
        Vec<serde_json::Value>,
        &'a [String],
    );
    impl serde::Serialize for Document<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut map = s.serialize_map(Some(self.0.len()))?;
            for (key, value) in &self.0 {
                if key == "links" {
                    map.serialize_entry(key, &Links(&self.1, self.2))?;
                } else {
                    map.serialize_entry(key, value)?;
                }
            }
            map.end()
        }
    }
    let mut fixed: Vec<Link> = collection
        .links
        .iter()
        .filter(|l| !l.is_structural())
        .cloned()
        .collect();
    fixed.insert(0, Link::root(format!("./{COLLECTION}")).json());
    let mut value = serde_json::to_value(collection)?;
    let map = value.as_object_mut().expect("a collection is an object");
    map.insert("links".into(), serde_json::Value::Null);
    let fixed = fixed
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<_, _>>()?;
    let document = Document(std::mem::take(map), fixed, ids);
    let mut bytes =
        Vec::with_capacity(4096 + ids.len() * (96 + 2 * ids.first().map_or(0, |i| i.len())));
    serde_json::to_writer_pretty(&mut bytes, &document)?;
    bytes.push(b'\n');
    Ok(bytes)
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
        c.links
            .push(Link::new("https://example.com/licence", "license"));
        set_extent(&mut c, &items);
        let document = collection_document(&c, &["a".into(), "b".into()]).unwrap();
        let written: Collection = serde_json::from_slice(&document).unwrap();
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
        let hrefs: Vec<&str> = written.links.iter().map(|l| l.href.as_str()).collect();
        assert_eq!(
            hrefs,
            [
                "./collection.json",
                "https://example.com/licence",
                "./items/a/a.json",
                "./items/b/b.json"
            ]
        );
        assert!(written.links[2].is_item() && written.links[2].r#type.is_some());
        assert_eq!(written.id, "c");
        let mut i = Item::new("b");
        link_item(&mut i, "c");
        assert!(i.links.iter().all(|l| l.href == "../../collection.json"));
    }
}
