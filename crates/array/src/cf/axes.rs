//! CF coordinate axes: which variable is a dimension's coordinate, which
//! axis it is, and whether its values are regular.

use super::is_time;
use crate::inventory::{Inventory, Variable};

/// Which horizontal axis a 1-D coordinate variable is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// Longitude or projected x.
    X,
    /// Latitude or projected y.
    Y,
}

/// The horizontal axis a 1-D variable describes, from `axis`,
/// `standard_name` or `units`.
pub fn horizontal_axis(var: &Variable) -> Option<Axis> {
    if var.dims.len() != 1 {
        return None;
    }
    axis_by_attributes(var)
}

/// The horizontal axis a variable's `axis`, `standard_name` or `units`
/// name, whatever its dimensions (2-D latitude and longitude too).
pub fn axis_by_attributes(var: &Variable) -> Option<Axis> {
    let standard = var.attr_str("standard_name").unwrap_or_default();
    let units = var.attr_str("units").unwrap_or_default();
    match var.attr_str("axis") {
        Some("X") => return Some(Axis::X),
        Some("Y") => return Some(Axis::Y),
        _ => {}
    }
    if matches!(
        standard,
        "longitude" | "projection_x_coordinate" | "grid_longitude"
    ) || units.starts_with("degrees_east")
        || units == "degree_east"
    {
        Some(Axis::X)
    } else if matches!(
        standard,
        "latitude" | "projection_y_coordinate" | "grid_latitude"
    ) || units.starts_with("degrees_north")
        || units == "degree_north"
    {
        Some(Axis::Y)
    } else {
        None
    }
}

/// The coordinate variable of a dimension: the variable of the same name,
/// or else the one 1-D variable along it that is a horizontal axis (as
/// `xgrid(x)` in NSIDC files).
pub fn coordinate<'a>(inventory: &'a Inventory, dim: &str) -> Option<&'a Variable> {
    inventory
        .vars
        .iter()
        .find(|v| v.name == dim && v.dims.len() == 1 && v.dims[0] == dim)
        .or_else(|| {
            let mut along = inventory.vars.iter().filter(|v| {
                v.dims.len() == 1
                    && v.dims[0] == dim
                    && (horizontal_axis(v).is_some() || is_time(v))
            });
            match (along.next(), along.next()) {
                (Some(v), None) => Some(v),
                _ => None,
            }
        })
}

/// Whether `name` is the coordinate variable of one of the dimensions.
pub fn is_coordinate(inventory: &Inventory, name: &str) -> bool {
    inventory
        .dims
        .iter()
        .any(|d| coordinate(inventory, &d.name).is_some_and(|c| c.name == name))
}

/// Whether `name` is another variable's auxiliary coordinate or cell
/// bounds (CF `coordinates`, `bounds`): 2-D latitudes, `time_bnds`.
pub fn is_auxiliary(inventory: &Inventory, name: &str) -> bool {
    inventory.vars.iter().any(|v| {
        v.attr_str("coordinates")
            .is_some_and(|c| c.split_whitespace().any(|n| n == name))
            || v.attr_str("bounds") == Some(name)
    })
}

/// Summary of a regular horizontal axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RegularAxis {
    /// First cell centre.
    pub first: f64,
    /// Step between centres (negative when decreasing).
    pub step: f64,
    /// Number of cells.
    pub len: usize,
}

impl RegularAxis {
    /// Whether the axis decreases (as latitudes stored north to south do).
    pub fn decreasing(&self) -> bool {
        self.step < 0.0
    }
    /// The outer edges `(min, max)` of the cells.
    pub fn edges(&self) -> (f64, f64) {
        let last = self.first + self.step * (self.len as f64 - 1.0);
        let half = self.step.abs() / 2.0;
        (self.first.min(last) - half, self.first.max(last) + half)
    }
}

/// The axis as first value and step, when the values are evenly spaced
/// (to 0.1 % of the step); `None` for irregular axes.
pub fn regular(values: &[f64]) -> Option<RegularAxis> {
    if values.len() < 2 {
        return None;
    }
    let step = (values[values.len() - 1] - values[0]) / (values.len() - 1) as f64;
    if step == 0.0 || !step.is_finite() {
        return None;
    }
    let even = values
        .iter()
        .enumerate()
        .all(|(i, v)| (v - (values[0] + step * i as f64)).abs() <= step.abs() * 1e-3);
    even.then_some(RegularAxis {
        first: values[0],
        step,
        len: values.len(),
    })
}

/// Whether longitudes run over 0–360 rather than −180–180.
pub fn is_0_360(longitudes: &[f64]) -> bool {
    longitudes.iter().any(|&x| x > 180.0) && longitudes.iter().all(|&x| x >= 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_axes() {
        let lat: Vec<f64> = (0..5).map(|i| 75.0 - 2.5 * f64::from(i)).collect();
        let axis = regular(&lat).unwrap();
        assert!(axis.decreasing());
        assert_eq!(axis.edges(), (63.75, 76.25));
        assert!(regular(&[0.0, 1.0, 3.0]).is_none());
        assert!(is_0_360(&[0.125, 359.875]));
        assert!(!is_0_360(&[-179.875, 179.875]));
    }
}
