//! Zonal statistics: per polygon, per time step, the mean, minimum,
//! maximum and count of a cube's variables over the cells the polygon
//! covers (GDAL's rasterizer on the cube's grid, all-touched or by cell
//! centre), CF-decoded values (scale, offset, fill and missing values
//! masked); written as a table (CSV and Parquet) — ESGF's "polygon
//! averaging".

use crate::inventory::{Inventory, Variable};
use crate::zarr::{Store, StoreMeta};
use crate::{cf, Error, Result};
use gdal::vector::LayerAccess;
use serde::Serialize;
use std::path::Path;

/// One row of the table: a zone, a time step, a variable.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// The zone (its attribute value, else its feature index).
    pub zone: String,
    /// The time step (RFC 3339), when the variable has a time dimension.
    pub time: Option<String>,
    /// The variable.
    pub variable: String,
    /// Mean of the valid values (NaN when none).
    pub mean: f64,
    /// Minimum (NaN when none).
    pub min: f64,
    /// Maximum (NaN when none).
    pub max: f64,
    /// Valid values counted.
    pub count: u64,
}

/// How zones are made from the polygons.
#[derive(Debug, Clone, Default)]
pub struct ZoneOptions {
    /// The attribute naming each zone (default: the feature's index).
    pub field: Option<String>,
    /// Cells touched by a polygon count (GDAL's `ALL_TOUCHED`), not only
    /// those whose centre is inside.
    pub all_touched: bool,
    /// Variables to summarise (default: every data variable on the grid).
    pub variables: Vec<String>,
}

fn grid_err(path: &Path, message: String) -> Error {
    Error::Grid {
        path: path.to_path_buf(),
        message,
    }
}

/// One mask per polygon of `polygons` on the cube's grid (rows north to
/// south, as the north-up `geotransform` says): `(zone name, cells)`.
fn masks(
    polygons: &Path,
    geotransform: [f64; 6],
    shape: [usize; 2],
    crs_wkt: Option<&str>,
    options: &ZoneOptions,
) -> Result<Vec<(String, Vec<bool>)>> {
    let gdal_err = |source| Error::Gdal {
        path: polygons.to_path_buf(),
        source,
    };
    let vector = gdal::Dataset::open(polygons).map_err(gdal_err)?;
    let target = crs_wkt
        .map(gdal::spatial_ref::SpatialRef::from_wkt)
        .transpose()
        .map_err(gdal_err)?;
    let mut zones = Vec::new();
    for mut layer in vector.layers() {
        let source_srs = layer.spatial_ref();
        for (index, feature) in layer.features().enumerate() {
            let name = match &options.field {
                Some(field) => feature
                    .field_index(field)
                    .and_then(|i| feature.field_as_string(i))
                    .map_err(gdal_err)?
                    .ok_or_else(|| {
                        grid_err(polygons, format!("feature {index} has no `{field}`"))
                    })?,
                None => index.to_string(),
            };
            let Some(geometry) = feature.geometry() else {
                continue;
            };
            let mut geometry = geometry.clone();
            // Into the grid's CRS, unless both are geographic (a 0–360
            // longitude grid takes 0–360 polygons as they are).
            if let (Some(from), Some(to)) = (&source_srs, &target) {
                if !(from.is_geographic() && to.is_geographic()) {
                    let mut from = from.clone();
                    let mut to = to.clone();
                    from.set_axis_mapping_strategy(
                        gdal::spatial_ref::AxisMappingStrategy::TraditionalGisOrder,
                    );
                    to.set_axis_mapping_strategy(
                        gdal::spatial_ref::AxisMappingStrategy::TraditionalGisOrder,
                    );
                    let transform =
                        gdal::spatial_ref::CoordTransform::new(&from, &to).map_err(gdal_err)?;
                    geometry.transform_inplace(&transform).map_err(gdal_err)?;
                }
            }
            let driver = gdal::DriverManager::get_driver_by_name("MEM").map_err(gdal_err)?;
            let mut raster = driver
                .create_with_band_type::<u8, _>("", shape[1], shape[0], 1)
                .map_err(gdal_err)?;
            raster.set_geo_transform(&geotransform).map_err(gdal_err)?;
            gdal::raster::rasterize(
                &mut raster,
                &[1],
                &[geometry],
                &[1.0],
                Some(gdal::raster::RasterizeOptions {
                    all_touched: options.all_touched,
                    ..Default::default()
                }),
            )
            .map_err(gdal_err)?;
            let band = raster.rasterband(1).map_err(gdal_err)?;
            let cells: Vec<u8> = band
                .read_as::<u8>((0, 0), (shape[1], shape[0]), (shape[1], shape[0]), None)
                .map_err(gdal_err)?
                .data()
                .to_vec();
            zones.push((name, cells.into_iter().map(|c| c == 1).collect()));
        }
    }
    if zones.is_empty() {
        return Err(grid_err(polygons, "it holds no polygons".into()));
    }
    Ok(zones)
}

/// CF decoding of raw values: fill and missing values masked (NaN), then
/// scale and offset applied.
fn decode(var: &Variable, values: &mut [f64]) {
    let number = |key: &str| {
        var.attrs.get(key).and_then(|v| match v {
            serde_json::Value::Array(a) => a.first().and_then(serde_json::Value::as_f64),
            other => other.as_f64(),
        })
    };
    let missing = number("missing_value");
    let scale = number("scale_factor").unwrap_or(1.0);
    let offset = number("add_offset").unwrap_or(0.0);
    for v in values.iter_mut() {
        if Some(*v) == var.fill || Some(*v) == missing {
            *v = f64::NAN;
        } else {
            *v = *v * scale + offset;
        }
    }
}

/// Zonal statistics of the Zarr store at `store` (written by stacforge)
/// over the polygons of `polygons`.
pub fn statistics(store: &Path, polygons: &Path, options: &ZoneOptions) -> Result<Vec<Row>> {
    let zarr = Store::dir(store);
    let meta = StoreMeta::read_in(&zarr)?;
    let inventory = Inventory::from_store(store, &meta);
    let profile = crate::cube::of_store(store)?;
    let geotransform = profile.geotransform.ok_or_else(|| {
        grid_err(
            store,
            "a curvilinear grid (2-D latitude and longitude) has no cells GDAL can rasterize onto"
                .into(),
        )
    })?;
    let shape = profile.shape;
    let axis = |a: &str| {
        profile
            .dimensions
            .iter()
            .find(|d| d.axis.as_deref() == Some(a))
            .map(|d| d.name.clone())
    };
    let (Some(y), Some(x)) = (axis("y"), axis("x")) else {
        return Err(grid_err(store, "no x/y dimensions".into()));
    };
    let crs_wkt = Some(profile.crs.wkt2.clone()).filter(|w| !w.is_empty());
    let read = |name: &str| -> Result<Vec<f64>> {
        let stored = meta.array(name).ok_or_else(|| Error::Store {
            store: store.to_path_buf(),
            message: format!("no array `{name}`"),
        })?;
        let array = zarr.array(stored)?;
        let bytes: zarrs::array::ArrayBytes = array
            .retrieve_array_subset(&array.subset_all())
            .map_err(|e| Error::Store {
                store: store.to_path_buf(),
                message: format!("reading `{name}`: {e}"),
            })?;
        let raw = bytes.into_fixed().map_err(|e| Error::Store {
            store: store.to_path_buf(),
            message: format!("reading `{name}`: {e}"),
        })?;
        let dtype = stored.dtype().ok_or_else(|| Error::Store {
            store: store.to_path_buf(),
            message: format!("`{name}` has a type stacforge does not read"),
        })?;
        Ok(dtype.to_f64(&raw))
    };
    // Rows of the store run south to north when its y coordinate ascends.
    let ys = read(&y)?;
    let ascending = ys.len() > 1 && ys[ys.len() - 1] > ys[0];
    let zones = masks(polygons, geotransform, shape, crs_wkt.as_deref(), options)?;
    let cell_of = |row: usize, col: usize| {
        let r = if ascending { shape[0] - 1 - row } else { row };
        r * shape[1] + col
    };
    let selected: Vec<&Variable> = inventory
        .vars
        .iter()
        .filter(|v| {
            v.dims.len() >= 2
                && v.dims[v.dims.len() - 2] == y
                && v.dims[v.dims.len() - 1] == x
                && v.dtype.is_some()
                && (options.variables.is_empty() || options.variables.contains(&v.name))
        })
        .collect();
    if selected.is_empty() {
        return Err(grid_err(
            store,
            "no variable on the x/y grid to summarise".into(),
        ));
    }
    let mut rows = Vec::new();
    for var in selected {
        let mut values = read(&var.name)?;
        decode(var, &mut values);
        let plane = shape[0] * shape[1];
        let steps = values.len() / plane.max(1);
        // One leading dimension is time (decoded); more are not summarised.
        let times: Vec<Option<String>> = match var.dims.len() {
            2 => vec![None],
            3 => {
                let tdim = &var.dims[0];
                let coordinate = cf::coordinate(&inventory, tdim);
                match coordinate.filter(|c| cf::is_time(c)) {
                    Some(c) => {
                        let raw = read(&c.name)?;
                        cf::time_axis(c, &raw)
                            .map_err(|message| grid_err(store, message))?
                            .iter()
                            .map(|t| {
                                Some(t.to_utc().map_or_else(
                                    || t.to_string(),
                                    |u| u.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                                ))
                            })
                            .collect()
                    }
                    None => (0..steps).map(|i| Some(i.to_string())).collect(),
                }
            }
            _ => {
                return Err(grid_err(
                    store,
                    format!(
                        "`{}` has {} dimensions; zonal statistics take (time, y, x) or (y, x)",
                        var.name,
                        var.dims.len()
                    ),
                ))
            }
        };
        for (zone, mask) in &zones {
            for (step, time) in times.iter().enumerate() {
                let plane_values = &values[step * plane..(step + 1) * plane];
                let (mut sum, mut count) = (0.0, 0u64);
                let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
                for row in 0..shape[0] {
                    for col in 0..shape[1] {
                        if !mask[row * shape[1] + col] {
                            continue;
                        }
                        let v = plane_values[cell_of(row, col)];
                        if v.is_nan() {
                            continue;
                        }
                        sum += v;
                        count += 1;
                        min = min.min(v);
                        max = max.max(v);
                    }
                }
                let none = count == 0;
                rows.push(Row {
                    zone: zone.clone(),
                    time: time.clone(),
                    variable: var.name.clone(),
                    mean: if none { f64::NAN } else { sum / count as f64 },
                    min: if none { f64::NAN } else { min },
                    max: if none { f64::NAN } else { max },
                    count,
                });
            }
        }
    }
    Ok(rows)
}

/// The table as CSV (`zone,time,variable,mean,min,max,count`).
pub fn to_csv(rows: &[Row]) -> String {
    let mut out = String::from("zone,time,variable,mean,min,max,count\n");
    let quote = |s: &str| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    for r in rows {
        out.push_str(&format!(
            "{},{},{},{},{},{},{}\n",
            quote(&r.zone),
            r.time.as_deref().unwrap_or(""),
            quote(&r.variable),
            r.mean,
            r.min,
            r.max,
            r.count
        ));
    }
    out
}

/// Writes the table as Parquet at `path`.
pub fn write_parquet(rows: &[Row], path: &Path) -> Result<()> {
    use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt64Array};
    use std::sync::Arc;
    let columns: Vec<(&str, ArrayRef)> = vec![
        (
            "zone",
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.zone.as_str()),
            )),
        ),
        (
            "time",
            Arc::new(
                rows.iter()
                    .map(|r| r.time.as_deref())
                    .collect::<StringArray>(),
            ),
        ),
        (
            "variable",
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.variable.as_str()),
            )),
        ),
        (
            "mean",
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.mean))),
        ),
        (
            "min",
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.min))),
        ),
        (
            "max",
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.max))),
        ),
        (
            "count",
            Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.count))),
        ),
    ];
    let batch = RecordBatch::try_from_iter(columns).map_err(|e| Error::Store {
        store: path.to_path_buf(),
        message: format!("building the table: {e}"),
    })?;
    let io = |e: std::io::Error| Error::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let file = std::fs::File::create(path).map_err(io)?;
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).map_err(|e| {
            Error::Store {
                store: path.to_path_buf(),
                message: format!("writing Parquet: {e}"),
            }
        })?;
    writer
        .write(&batch)
        .and_then(|_| writer.close().map(|_| ()))
        .map_err(|e| Error::Store {
            store: path.to_path_buf(),
            message: format!("writing Parquet: {e}"),
        })
}
