//! The horizontal grid of a variable: its axes, reference system and
//! georeferencing, from CF coordinates and grid mappings.

use crate::cf::{self, Axis, GridCrs, RegularAxis};
use crate::inventory::{Inventory, Variable};
use crate::{Error, Result};
use stacforge_core::{Crs, Footprint, RasterProfile};
use std::path::Path;

/// A variable's horizontal grid.
#[derive(Debug, Clone)]
pub struct Grid {
    /// The x (longitude or easting) dimension.
    pub x_dim: String,
    /// The y (latitude or northing) dimension.
    pub y_dim: String,
    /// The x axis (metres for projected grids).
    pub x: RegularAxis,
    /// The y axis (metres for projected grids).
    pub y: RegularAxis,
    /// The reference system.
    pub crs: Crs,
    /// Whether x/y are longitude/latitude.
    pub geographic: bool,
    /// Whether the variable is stored x-major, its last two dimensions
    /// (x, y) rather than (y, x), as GPM IMERG stores (lon, lat).
    pub transposed: bool,
}

impl Grid {
    /// Whether longitudes run 0–360.
    pub fn lon_0_360(&self) -> bool {
        let (w, e) = self.x.edges();
        self.geographic && cf::is_0_360(&[w.max(0.0), e - self.x.step.abs() / 2.0])
    }

    /// Whether rows run south to north (latitude increasing), so a north-up
    /// raster needs them flipped.
    pub fn y_increasing(&self) -> bool {
        !self.y.decreasing()
    }

    /// The north-up geotransform of the grid; with `roll`, longitudes 0–360
    /// are shifted to start at −180.
    pub fn geotransform(&self, roll: bool) -> [f64; 6] {
        let (x0, _) = self.x.edges();
        let x0 = if roll && self.lon_0_360() {
            x0 - 180.0
        } else {
            x0
        };
        let (_, top) = self.y.edges();
        [x0, self.x.step.abs(), 0.0, top, 0.0, -self.y.step.abs()]
    }

    /// The column at which a rolled row starts (the first longitude ≥ 180).
    pub fn roll_at(&self) -> usize {
        (0..self.x.len)
            .find(|&i| self.x.first + self.x.step * i as f64 >= 180.0)
            .unwrap_or(0)
    }

    /// The grid's footprint in WGS84 (longitudes normalised to −180–180).
    pub fn footprint(&self, path: &Path) -> Result<Footprint> {
        if self.geographic {
            let (w, e) = self.x.edges();
            let (s, n) = self.y.edges();
            return Ok(lonlat_footprint(w, e, s, n));
        }
        let profile = RasterProfile {
            width: self.x.len,
            height: self.y.len,
            crs: self.crs.clone(),
            geotransform: self.geotransform(false),
            bands: Vec::new(),
            footprint: None,
            timing: None,
        };
        Ok(stacforge_raster::footprint::of_extent(&profile, path)?)
    }
}

/// The footprint of the longitudes `w` to `e` (east of `w`, up to 360° on;
/// 0–360 or −180–180) and latitudes `s` to `n`: a polygon, or two where it
/// crosses the antimeridian; longitudes normalised to −180–180.
pub fn lonlat_footprint(mut w: f64, mut e: f64, s: f64, n: f64) -> Footprint {
    let (s, n) = (s.max(-90.0), n.min(90.0));
    if e - w >= 359.999 {
        (w, e) = (-180.0, 180.0);
    } else if e > 180.0 {
        if w >= 180.0 {
            w -= 360.0;
        }
        e -= 360.0;
    }
    let b = |w: f64, e: f64| vec![vec![[w, s], [e, s], [e, n], [w, n], [w, s]]];
    let geometry = if w > e {
        serde_json::json!({"type": "MultiPolygon", "coordinates": [b(w, 180.0), b(-180.0, e)]})
    } else {
        serde_json::json!({"type": "Polygon", "coordinates": b(w, e)})
    };
    Footprint {
        geometry,
        bbox: [w, s, e, n],
    }
}

/// The narrowest span of longitudes covering every one of `lons` (any
/// convention), as (west, east) with east ≥ west and west in −180–180:
/// the circle less its widest gap between neighbouring values.
pub fn lon_span(lons: &[f64]) -> Option<(f64, f64)> {
    let mut l: Vec<f64> = lons
        .iter()
        .filter(|v| v.is_finite())
        .map(|v| (v + 180.0).rem_euclid(360.0) - 180.0)
        .collect();
    l.sort_by(f64::total_cmp);
    let (first, last) = (*l.first()?, *l.last()?);
    // The gap after each value, the last one wrapping round to the first.
    let (mut widest, mut after) = (first + 360.0 - last, l.len() - 1);
    for (i, pair) in l.windows(2).enumerate() {
        if pair[1] - pair[0] > widest {
            (widest, after) = (pair[1] - pair[0], i);
        }
    }
    let west = l[(after + 1) % l.len()];
    let east = l[after];
    Some((west, if east < west { east + 360.0 } else { east }))
}

/// A grid whose latitudes and longitudes are 2-D auxiliary coordinates
/// (CF `coordinates`), as ocean and sea-ice models' curvilinear grids
/// have: its footprint comes from the coordinates (and the cells' vertices,
/// CF `bounds`), not from a guessed regular grid.
#[derive(Debug, Clone)]
pub struct Curvilinear {
    /// The row and column dimensions (`j`, `i`).
    pub dims: [String; 2],
    /// Rows and columns.
    pub shape: [usize; 2],
    /// The 2-D latitude and longitude variables.
    pub coordinates: [String; 2],
    /// The cells' extent.
    pub footprint: Footprint,
}

/// The curvilinear grid of the first variable that has one.
pub fn curvilinear(
    inventory: &Inventory,
    read: &dyn Fn(&Variable) -> crate::Result<Vec<f64>>,
) -> Result<Option<Curvilinear>> {
    let Some((var, lat, lon)) = curvilinear_coordinates(inventory) else {
        return Ok(None);
    };
    let plane = &var.dims[var.dims.len() - 2..];
    // Values and vertices, without fill values and the out-of-range
    // markers (1e20, 1e30) models leave over land.
    let valid = |c: &Variable, range: std::ops::RangeInclusive<f64>| -> Result<Vec<f64>> {
        let mut values = read(c)?;
        if let Some(b) = c.attr_str("bounds").and_then(|b| inventory.var(b)) {
            values.extend(read(b)?);
        }
        let fill = [c.attr_f64("_FillValue"), c.attr_f64("missing_value")];
        values.retain(|v| range.contains(v) && !fill.contains(&Some(*v)));
        Ok(values)
    };
    let lats = valid(lat, -90.0..=90.0)?;
    let lons = valid(lon, -360.0..=720.0)?;
    let (Some((w, e)), false) = (lon_span(&lons), lats.is_empty()) else {
        return Err(Error::Grid {
            path: inventory.path.clone(),
            message: format!(
                "`{}` and `{}` (the 2-D coordinates of `{}`) have no valid value",
                lat.name, lon.name, var.name
            ),
        });
    };
    let s = lats.iter().copied().fold(f64::INFINITY, f64::min);
    let n = lats.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let len = |d: &str| inventory.dim(d).map_or(0, |d| d.len);
    Ok(Some(Curvilinear {
        dims: [plane[0].clone(), plane[1].clone()],
        shape: [len(&plane[0]), len(&plane[1])],
        coordinates: [lat.name.clone(), lon.name.clone()],
        footprint: lonlat_footprint(w, e, s, n),
    }))
}

/// The first data variable on a curvilinear grid, with its 2-D latitude
/// and longitude (CF auxiliary coordinates on its last two dimensions),
/// found from the header alone.
pub(crate) fn curvilinear_coordinates(
    inventory: &Inventory,
) -> Option<(&Variable, &Variable, &Variable)> {
    inventory
        .vars
        .iter()
        .filter(|v| v.dims.len() >= 2)
        .find_map(|var| {
            let names = var.attr_str("coordinates")?;
            let plane = &var.dims[var.dims.len() - 2..];
            let aux: Vec<&Variable> = (names.split_whitespace())
                .filter_map(|n| inventory.var(n))
                .filter(|c| c.dims == plane)
                .collect();
            let find = |axis: Axis| {
                (aux.iter())
                    .find(|c| cf::axis_by_attributes(c) == Some(axis))
                    .copied()
            };
            Some((var, find(Axis::Y)?, find(Axis::X)?))
        })
}

/// The horizontal grid of `var` (its last two dimensions), or `None` when
/// they are not x/y axes. `read` gives a coordinate variable's values.
pub fn grid(
    inventory: &Inventory,
    var: &Variable,
    read: &dyn Fn(&Variable) -> crate::Result<Vec<f64>>,
) -> Result<Option<Grid>> {
    stacforge_raster::init();
    let path = &inventory.path;
    if var.dims.len() < 2 {
        return Ok(None);
    }
    let (mut y_dim, mut x_dim) = (&var.dims[var.dims.len() - 2], &var.dims[var.dims.len() - 1]);
    let (Some(mut ycoord), Some(mut xcoord)) = (
        cf::coordinate(inventory, y_dim),
        cf::coordinate(inventory, x_dim),
    ) else {
        return Ok(None);
    };
    let axes = (cf::horizontal_axis(xcoord), cf::horizontal_axis(ycoord));
    let transposed = match axes {
        (Some(Axis::X), Some(Axis::Y)) => false,
        (Some(Axis::Y), Some(Axis::X)) => {
            std::mem::swap(&mut x_dim, &mut y_dim);
            std::mem::swap(&mut xcoord, &mut ycoord);
            true
        }
        _ => return Ok(None),
    };
    let unsupported = |message: String| Error::Grid {
        path: path.to_path_buf(),
        message,
    };
    let definition = cf::grid_crs(inventory, var)
        .map_err(|m| unsupported(format!("variable `{}`: {m}", var.name)))?;
    let geographic = matches!(definition, GridCrs::Geographic(_));
    let scale = |c: &Variable| -> Result<f64> {
        if geographic {
            return Ok(1.0);
        }
        cf::metres_per_unit(c.attr_str("units")).ok_or_else(|| {
            unsupported(format!(
                "`{}` has units {:?}, not metres or kilometres",
                c.name,
                c.attr_str("units")
            ))
        })
    };
    let axis = |c: &Variable| -> Result<RegularAxis> {
        let k = scale(c)?;
        let values: Vec<f64> = read(c)?.into_iter().map(|v| v * k).collect();
        if values.len() == 1 && values[0].is_finite() {
            // One cell: its size is its CF bounds' (`lat_bnds`).
            let bounds = (c.attr_str("bounds"))
                .and_then(|b| inventory.var(b))
                .map(read)
                .transpose()?
                .filter(|b| b.len() == 2 && b.iter().all(|v| v.is_finite()) && b[0] != b[1]);
            return match bounds {
                Some(b) => Ok(RegularAxis {
                    first: values[0],
                    step: (b[1] - b[0]) * k,
                    len: 1,
                }),
                None => Err(unsupported(format!(
                    "`{}` has a single value and no bounds; its cell size is unknown",
                    c.name
                ))),
            };
        }
        if let Some(at) = values.iter().position(|v| !v.is_finite()) {
            return Err(unsupported(format!(
                "coordinate `{}` has no value ({}) at index {at}",
                c.name, values[at]
            )));
        }
        cf::regular(&values).ok_or_else(|| {
            unsupported(format!(
                "`{}` is not evenly spaced; it cannot be a raster grid",
                c.name
            ))
        })
    };
    let (x, y) = (axis(xcoord)?, axis(ycoord)?);
    let candidates = match &definition {
        GridCrs::Geographic(c) | GridCrs::Projected(c) => c,
    };
    let srs = if candidates.is_empty() {
        let mut srs =
            gdal::spatial_ref::SpatialRef::from_epsg(4326).map_err(|source| Error::Gdal {
                path: path.to_path_buf(),
                source,
            })?;
        srs.set_axis_mapping_strategy(gdal::spatial_ref::AxisMappingStrategy::TraditionalGisOrder);
        srs
    } else {
        let mut refused = Vec::new();
        let mut found = None;
        for d in candidates {
            match gdal::spatial_ref::SpatialRef::from_definition(d) {
                Ok(srs) => {
                    found = Some(srs);
                    break;
                }
                Err(e) => refused.push(format!("{d}: {e}")),
            }
        }
        found.ok_or_else(|| {
            unsupported(format!(
                "GDAL cannot read any definition of the grid mapping of `{}`: {}",
                var.name,
                refused.join("; ")
            ))
        })?
    };
    let crs = stacforge_raster::inspect::crs(&srs, path)?;
    Ok(Some(Grid {
        x_dim: x_dim.clone(),
        y_dim: y_dim.clone(),
        x,
        y,
        crs,
        geographic,
        transposed,
    }))
}
