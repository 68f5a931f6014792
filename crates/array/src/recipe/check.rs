//! The consistency checks every batch and every append runs: encodings,
//! grids by value, defined coordinates, an axis that runs forward with no
//! overlap or gap.

use super::*;

/// Attributes that must agree across sources for values to mean the same.
pub(super) const ENCODING_ATTRIBUTES: &[&str] = &[
    "units",
    "calendar",
    "scale_factor",
    "add_offset",
    "missing_value",
];

pub(super) fn check_consistent(
    a: &Inventory,
    b: &Inventory,
    selected: &[String],
    concat: Option<&str>,
) -> Result<()> {
    let mismatch = |difference: String| Error::Mismatch {
        first: a.path.clone(),
        second: b.path.clone(),
        difference,
    };
    if let Some(missing) = selected.iter().find(|n| b.var(n).is_none()) {
        return Err(mismatch(format!(
            "variable `{missing}` is missing from the second"
        )));
    }
    for name in selected {
        let va = a.var(name).expect("selected from a");
        let vb = b.var(name).expect("checked above");
        if va.dtype != vb.dtype || va.other_type != vb.other_type {
            return Err(mismatch(format!(
                "`{name}` is {} in the first and {} in the second",
                va.type_name(),
                vb.type_name()
            )));
        }
        if va.dims != vb.dims {
            return Err(mismatch(format!(
                "`{name}` has dimensions {:?} in the first and {:?} in the second",
                va.dims, vb.dims
            )));
        }
        for (i, d) in va.dims.iter().enumerate() {
            if Some(d.as_str()) != concat && va.shape[i] != vb.shape[i] {
                return Err(mismatch(format!(
                    "`{name}` has {} `{d}` cells in the first and {} in the second",
                    va.shape[i], vb.shape[i]
                )));
            }
        }
        if !same_number(va.fill, vb.fill) {
            return Err(mismatch(format!(
                "`{name}:_FillValue` is {:?} in the first and {:?} in the second",
                va.fill, vb.fill
            )));
        }
        for key in ENCODING_ATTRIBUTES {
            if !cf::same_encoding(key, va.attrs.get(*key), vb.attrs.get(*key)) {
                return Err(mismatch(format!(
                    "`{name}:{key}` is {} in the first and {} in the second",
                    show(va.attrs.get(*key)),
                    show(vb.attrs.get(*key))
                )));
            }
        }
    }
    Ok(())
}

/// The values of the selected variables not along the concatenation
/// dimension (the grid), which every source must share.
pub(super) fn grid_values(
    inventory: &Inventory,
    reader: &Reader,
    selected: &[String],
    concat: Option<&str>,
) -> Result<Vec<(String, Vec<u8>)>> {
    let mut values = Vec::new();
    for name in selected {
        let var = inventory.var(name).expect("selected");
        if var.dtype.is_none() || concat.is_some_and(|c| var.dims.iter().any(|d| d == c)) {
            continue;
        }
        let ranges: Vec<Range<usize>> = var.shape.iter().map(|&n| 0..n).collect();
        values.push((name.clone(), reader.read(name, &ranges)?));
    }
    Ok(values)
}

/// Refuses coordinate variables (1-D, named as their dimension) with a
/// missing (NaN or infinite) value: cells would have no place.
pub(super) fn check_coordinates_defined(
    inventory: &Inventory,
    grid: &[(String, Vec<u8>)],
) -> Result<()> {
    for (name, bytes) in grid {
        let Some(var) = inventory.var(name) else {
            continue;
        };
        let (Some(dtype), [dim]) = (var.dtype, var.dims.as_slice()) else {
            continue;
        };
        if dim != name && !cf::is_coordinate(inventory, name) {
            continue;
        }
        let values = dtype.to_f64(bytes);
        if let Some(at) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::Unsupported {
                path: inventory.path.clone(),
                message: format!(
                    "coordinate `{name}` has no value ({}) at index {at}",
                    values[at]
                ),
            });
        }
    }
    Ok(())
}

/// Where two value lists first differ (NaN equals NaN), for messages.
pub(super) fn first_value_difference(before: &[f64], now: &[f64]) -> Option<String> {
    if before.len() != now.len() {
        return Some(format!("{} values against {}", before.len(), now.len()));
    }
    let same = |a: f64, b: f64| a == b || (a.is_nan() && b.is_nan());
    let at = before.iter().zip(now).position(|(a, b)| !same(*a, *b))?;
    Some(format!(
        "at index {at} it is {} there and {} here",
        before[at], now[at]
    ))
}

pub(super) fn same_number(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => x == y || (x.is_nan() && y.is_nan()),
        (None, None) => true,
        _ => false,
    }
}

pub(super) fn show(value: Option<&Value>) -> String {
    value.map_or_else(|| "absent".to_string(), Value::to_string)
}

/// Checks the concatenation coordinate runs strictly forward across
/// sources with no gap wider than its own step. `before` is the store's
/// axis when appending.
pub(super) fn check_axis(placed: &[Placed], before: Option<(&Path, &[f64])>) -> Result<()> {
    let mut steps: Vec<f64> = Vec::new();
    if let Some((_, values)) = before {
        steps.extend(values.windows(2).map(|w| w[1] - w[0]));
    }
    for p in placed {
        steps.extend(p.coords.windows(2).map(|w| w[1] - w[0]));
    }
    let mut chain: Vec<(&Path, &[f64])> = before.into_iter().collect();
    chain.extend(
        placed
            .iter()
            .map(|p| (p.inventory.path.as_path(), p.coords.as_slice())),
    );
    chain.retain(|(_, c)| !c.is_empty());
    if steps.is_empty() {
        steps.extend(
            chain
                .windows(2)
                .map(|w| w[1].1[0] - w[0].1[w[0].1.len() - 1]),
        );
    }
    let step = steps
        .iter()
        .copied()
        .filter(|s| *s > 0.0)
        .fold(f64::INFINITY, f64::min);
    for (path, coords) in &chain {
        if coords.windows(2).any(|w| w[1] <= w[0]) {
            return Err(Error::Append {
                path: path.to_path_buf(),
                message: "its concatenation coordinate does not increase".into(),
            });
        }
    }
    for w in chain.windows(2) {
        let ((pa, a), (pb, b)) = (w[0], w[1]);
        let (last, next) = (a[a.len() - 1], b[0]);
        if next <= last {
            return Err(Error::Append {
                path: pb.to_path_buf(),
                message: format!(
                    "it overlaps {}: it starts at {next}, not after {last} where that one ends",
                    pa.display()
                ),
            });
        }
        if step.is_finite() && next - last > 1.5 * step {
            return Err(Error::Append {
                path: pb.to_path_buf(),
                message: format!(
                    "it leaves a gap after {}: it starts at {next}, {} after {last}, where the axis steps by {step}",
                    pa.display(),
                    next - last
                ),
            });
        }
    }
    Ok(())
}
