//! The CMIP6 extension's fields from a dataset's global attributes, and
//! each file's ESGF `tracking_id` on its `via` link.

use crate::check::Dataset;
use serde_json::{json, Map, Value};
use stacforge_core::{Job, Timing};

/// The global attributes the CMIP6 extension (v2.0.0) defines a field
/// for (`cmip6:<attribute>`); the four indices are integers there.
pub const FIELDS: &[&str] = &[
    "Conventions",
    "activity_id",
    "creation_date",
    "data_specs_version",
    "experiment",
    "experiment_id",
    "forcing_index",
    "frequency",
    "further_info_url",
    "grid",
    "grid_label",
    "initialization_index",
    "institution",
    "institution_id",
    "license",
    "mip_era",
    "nominal_resolution",
    "physics_index",
    "product",
    "realization_index",
    "realm",
    "source",
    "source_id",
    "source_type",
    "sub_experiment",
    "sub_experiment_id",
    "table_id",
    "variable_id",
    "variant_label",
];

/// The fields the extension types as integers.
const INTEGERS: &[&str] = &[
    "forcing_index",
    "initialization_index",
    "physics_index",
    "realization_index",
];

/// Where the tracking ids ride from `convert` to `describe` (left out of
/// the item's properties).
const TRACKING: &str = "stacforge:cmip6_tracking_ids";
/// Where a fixed field's creation date rides.
const CREATED: &str = "stacforge:cmip6_creation_date";
/// Where the subset taken rides (to `processing:lineage` and
/// `stacforge:subset`).
pub const SUBSET: &str = "stacforge:cmip6_subset";

/// The item properties of `dataset`: `cmip6:*` from the first file's global
/// attributes (the files agree on them: they are one dataset), the
/// variable's long name, and the tracking id of every file.
pub fn properties(dataset: &Dataset) -> Map<String, Value> {
    let (_, name, attrs) = &dataset.files[0];
    let mut props = Map::new();
    let text = |v: &Value| match v {
        Value::String(s) => s.trim().to_string(),
        other => other.to_string(),
    };
    for field in FIELDS {
        let value = match *field {
            // The dataset's own: the one activity its directory names
            // (the attribute may list several), as its id has it.
            "activity_id" => Some(dataset.activity_id.clone()),
            "institution_id" => Some(dataset.institution_id.clone()),
            "sub_experiment_id" => Some(name.sub_experiment_id().to_string()),
            f => attrs.get(f).map(text),
        };
        let Some(value) = value.filter(|v| !v.is_empty()) else {
            continue;
        };
        let value = match value.parse::<i64>() {
            Ok(n) if INTEGERS.contains(field) => json!(n),
            _ => json!(value),
        };
        props.insert(format!("cmip6:{field}"), value);
    }
    if let Some(long_name) = &dataset.variable_long_name {
        props.insert("cmip6:variable_long_name".into(), json!(long_name));
    }
    let tracking: Map<String, Value> = (dataset.files.iter())
        .filter_map(|(path, _, attrs)| {
            let id = attrs.get("tracking_id").map(text)?;
            Some((path.display().to_string(), json!(id)))
        })
        .collect();
    props.insert(TRACKING.into(), Value::Object(tracking));
    if !dataset.corrections.is_empty() {
        let listed: Vec<Value> = (dataset.corrections.iter())
            .map(|a| {
                json!({
                    "attribute": a.attribute,
                    "published": a.correction.published,
                    "corrected": a.correction.corrected,
                    "reference": a.reference,
                })
            })
            .collect();
        props.insert("stacforge:corrections".into(), Value::Array(listed));
    }
    if dataset.fixed {
        if let Some(created) = attrs.get("creation_date").map(text) {
            props.insert(CREATED.into(), json!(created));
        }
    }
    props
}

/// The datetime of a fixed field (it has no time axis): its creation date.
pub fn fixed_field_datetime(
    properties: &Map<String, Value>,
) -> stacforge_core::Result<Option<Timing>> {
    match properties.get(CREATED).and_then(Value::as_str) {
        Some(created) => Ok(Some(created.parse()?)),
        None => Ok(None),
    }
}

/// Puts the CMIP6 fields on the item (and the extension in its list), and
/// each file's tracking id on its `via` link.
pub fn apply(item: &mut stac::Item, job: &Job, mut properties: Map<String, Value>) {
    let tracking = match properties.remove(TRACKING) {
        Some(Value::Object(t)) => t,
        _ => Map::new(),
    };
    properties.remove(CREATED);
    if let Some(Value::String(subset)) = properties.remove(SUBSET) {
        let props = &mut item.properties.additional_fields;
        let lineage = props
            .get("processing:lineage")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        props.insert(
            "processing:lineage".into(),
            json!(format!("{lineage}, then cut to {subset}")),
        );
        props.insert("stacforge:subset".into(), json!(subset));
    }
    for link in item.links.iter_mut().filter(|l| l.rel == "via") {
        let source = job.sources.iter().find(|s| s.href == link.href);
        if let Some(id) = source.and_then(|s| tracking.get(&s.path.display().to_string())) {
            link.additional_fields
                .insert("cmip6:tracking_id".into(), id.clone());
        }
    }
    item.properties.additional_fields.extend(properties);
    if !item.extensions.iter().any(|e| e == crate::EXTENSION) {
        item.extensions.push(crate::EXTENSION.into());
    }
}
