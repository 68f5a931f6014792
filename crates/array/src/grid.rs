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
            let (mut w, mut e) = self.x.edges();
            let (s, n) = self.y.edges();
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
            return Ok(Footprint {
                geometry,
                bbox: [w, s, e, n],
            });
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
        if values.len() == 1 {
            return Err(unsupported(format!(
                "`{}` has a single value; its cell size is unknown",
                c.name
            )));
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
