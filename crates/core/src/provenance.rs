//! Provenance: every item records the bytes it came from and what made it.

use crate::{extension, item::add_extension, Job, SOFTWARE};
use serde_json::json;
use stac::{Item, Link};

/// Link relation of a link to a source file (IANA `via`: "the source of the
/// information in the link's context").
pub const SOURCE_REL: &str = "via";

/// Records the sources (a `via` link to each with its size and checksum,
/// and a `derived_from` link when the source came from a STAC item), the
/// software that made the item and a lineage sentence.
pub fn stamp(item: &mut Item, job: &Job, lineage: &str) {
    link_sources(item, job);
    let props = &mut item.properties.additional_fields;
    props.insert(
        "processing:software".into(),
        json!({ SOFTWARE.0: SOFTWARE.1 }),
    );
    props.insert("processing:lineage".into(), json!(lineage));
    props.insert(
        "created".into(),
        json!(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    );
    add_extension(item, extension::PROCESSING);
    add_extension(item, extension::FILE);
}

/// Links every source of the job (`via`, with its size and checksum) and
/// the STAC item it came from (`derived_from`); links already there are
/// replaced, not repeated. The run loop calls it on every item, so no item
/// lacks its provenance.
pub fn link_sources(item: &mut Item, job: &Job) {
    if let Some(href) = &job.derived_from {
        derived_from(item, href);
    }
    for source in &job.sources {
        let mut link = Link::new(&source.href, SOURCE_REL).title(Some(format!(
            "Source file {}",
            source
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        )));
        link.additional_fields
            .insert("file:size".into(), json!(source.size));
        link.additional_fields
            .insert("file:checksum".into(), json!(source.checksum));
        item.links
            .retain(|l| !(l.rel == SOURCE_REL && l.href == source.href));
        item.links.push(link);
    }
}

/// Adds a `derived_from` link to a STAC item this one was made from.
pub fn derived_from(item: &mut Item, href: &str) {
    if !item
        .links
        .iter()
        .any(|l| l.rel == "derived_from" && l.href == href)
    {
        item.links.push(Link::new(href, "derived_from").json());
    }
}
