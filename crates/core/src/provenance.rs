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
/// replaced, not repeated.
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
        if let Some(etag) = &source.etag {
            // The object store's own version of the bytes read.
            link.additional_fields.insert("etag".into(), json!(etag));
        }
        item.links
            .retain(|l| !(l.rel == SOURCE_REL && l.href == source.href));
        item.links.push(link);
    }
}

/// What the run loop does to every item: when the package recorded no
/// source (`via`) itself, every source of the job is linked, so no item
/// lacks its provenance. A package that links its sources keeps its own
/// list: a cube made with `--skip-bad` links the sources it used, not the
/// ones it left out.
pub fn ensure_sources(item: &mut Item, job: &Job) {
    if let Some(href) = &job.derived_from {
        derived_from(item, href);
    }
    if !item.links.iter().any(|l| l.rel == SOURCE_REL) {
        link_sources(item, job);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_loop_links_every_source_unless_the_package_linked_its_own() {
        let mut job = Job::for_test("cube", "/data/a.nc");
        job.sources
            .push(crate::Source::recorded("/data/b.nc", 2, "1220bb"));
        let mut bare = Item::new("cube");
        ensure_sources(&mut bare, &job);
        let via: Vec<_> = bare.links.iter().filter(|l| l.rel == SOURCE_REL).collect();
        assert_eq!(via.len(), 2);
        assert_eq!(via[1].href, "file:///data/b.nc");
        assert_eq!(via[1].additional_fields["file:size"], 2);

        // A package that used only the first source says so; it stays so.
        let mut own = Item::new("cube");
        let mut first_only = job.clone();
        first_only.sources.truncate(1);
        link_sources(&mut own, &first_only);
        ensure_sources(&mut own, &job);
        assert_eq!(own.links.iter().filter(|l| l.rel == SOURCE_REL).count(), 1);
    }
}
