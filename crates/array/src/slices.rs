//! NetCDF/HDF5 → COG (`stacforge netcdf to-cog`, and dataset packages
//! such as IMERG): one Cloud-Optimized GeoTIFF per variable per
//! time step of a NetCDF/HDF5 file, georeferenced from its CF coordinates
//! and grid mapping (GDAL's netCDF driver misses grid mappings such as
//! NSIDC's), north-up, optionally rolled from 0–360 to −180–180 longitudes,
//! with the packing (`scale_factor`/`add_offset`) and fill value kept as
//! the band's scale, offset and nodata.

use crate::cf;
use crate::grid::{grid, Grid};
use crate::inventory::{Inventory, Reader, Variable};
use crate::ElementType;
use gdal::raster::{Buffer, RasterCreationOptions};
use gdal::DriverManager;
use stacforge_core::artifact::COG_MEDIA_TYPE;
use stacforge_core::{Artifact, Error, Job, Result};
use stacforge_raster::{cog, inspect, CogOptions, InspectOptions};
use std::path::Path;

/// Options of the slice conversion.
#[derive(Debug, Clone, Default)]
pub struct SliceOptions {
    /// Variables to convert (default: every variable on an x/y grid).
    pub variables: Vec<String>,
    /// Shift 0–360 longitudes to −180–180.
    pub roll_longitude: bool,
    /// The group holding the variables (NetCDF-4/HDF5), e.g. `Grid` in GPM IMERG.
    pub group: Option<String>,
}

fn convert_err(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::Convert(format!("{}: {message}", path.display()).into())
}

/// One slice to write: a variable at one index of its leading dimension.
struct Slice<'a> {
    var: &'a Variable,
    /// Index along the leading (time) dimension, when there is one.
    step: Option<usize>,
    time: Option<chrono::DateTime<chrono::Utc>>,
    /// The time step's cell bounds (CF `bounds` of the time coordinate).
    bounds: Option<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)>,
}

/// Writes one COG per variable per time step of the job's (first) source
/// into its work directory, each an artifact with its raster profile and
/// its time step (`datetime`, and `start_datetime`/`end_datetime` from CF
/// time bounds) in its properties.
pub fn convert(job: &Job, options: &SliceOptions, cog: &CogOptions) -> Result<Vec<Artifact>> {
    let path = &job.source().path;
    let group = options.group.as_deref();
    let inventory = Inventory::read(path, group).map_err(|e| Error::Convert(Box::new(e)))?;
    let reader = Reader::open(path, group).map_err(|e| Error::Convert(Box::new(e)))?;
    let read = |v: &Variable| reader.read_f64(v);
    for wanted in &options.variables {
        if inventory.var(wanted).is_none() {
            return Err(convert_err(path, format!("it has no variable `{wanted}`")));
        }
    }
    let mut slices = Vec::new();
    let mut grids: Vec<(String, Grid)> = Vec::new();
    for var in &inventory.vars {
        let wanted = options.variables.is_empty() || options.variables.contains(&var.name);
        if !wanted || var.dtype.is_none() || cf::is_coordinate(&inventory, &var.name) {
            continue;
        }
        let Some(g) = grid(&inventory, var, &read).map_err(|e| Error::Convert(Box::new(e)))? else {
            if !options.variables.is_empty() {
                return Err(convert_err(
                    path,
                    format!("variable `{}` has no x/y grid", var.name),
                ));
            }
            continue;
        };
        // Leading dimensions: at most one longer than 1 (time, usually).
        let lead = &var.dims[..var.dims.len() - 2];
        let long: Vec<usize> = (0..lead.len()).filter(|&i| var.shape[i] > 1).collect();
        if long.len() > 1 {
            return Err(convert_err(
                    path,
                    format!("variable `{}` has more than one non-spatial dimension longer than 1 ({lead:?})", var.name),
                ));
        }
        let coord = match long.first() {
            Some(&i) => cf::coordinate(&inventory, &lead[i]).filter(|c| cf::is_time(c)),
            None => lead
                .iter()
                .find_map(|d| cf::coordinate(&inventory, d).filter(|c| cf::is_time(c))),
        };
        let steps = long.first().map_or(1, |&i| var.shape[i]);
        let (times, bounds) = match coord {
            Some(c) => {
                let values = read(c).map_err(|e| Error::Convert(Box::new(e)))?;
                let times = decode_times(path, c, &values)?;
                (times, time_bounds(path, &inventory, c, &read)?)
            }
            None => (vec![None; steps], None),
        };
        let many = times.len() > 1;
        for (t, time) in times.into_iter().enumerate() {
            slices.push(Slice {
                var,
                step: many.then_some(t),
                time,
                bounds: bounds.as_ref().and_then(|b| b.get(t).copied().flatten()),
            });
        }
        grids.push((var.name.clone(), g));
    }
    if slices.is_empty() {
        return Err(convert_err(
            path,
            "no variable has x/y (longitude/latitude or projected) coordinates",
        ));
    }
    let mut artifacts = Vec::new();
    for slice in &slices {
        let g = &grids
            .iter()
            .find(|(n, _)| *n == slice.var.name)
            .expect("grid found")
            .1;
        if g.lon_0_360() && !options.roll_longitude && slice.step.unwrap_or(0) == 0 {
            eprintln!(
                    "note: {}: `{}` has 0–360 longitudes; the COG keeps them (use --roll-longitude for −180–180)",
                    path.display(),
                    slice.var.name
                );
        }
        artifacts.push(write_slice(job, &reader, slice, g, options, cog)?);
    }
    Ok(artifacts)
}

fn write_slice(
    job: &Job,
    reader: &Reader,
    slice: &Slice,
    g: &Grid,
    options: &SliceOptions,
    cog: &CogOptions,
) -> Result<Artifact> {
    let path = &job.source().path;
    let var = slice.var;
    let dtype = var.dtype.expect("numeric");
    let n = var.dims.len();
    let mut ranges: Vec<std::ops::Range<usize>> = var.shape.iter().map(|&len| 0..len).collect();
    if let Some(t) = slice.step {
        let i = (0..n - 2)
            .find(|&i| var.shape[i] > 1)
            .expect("a long leading dimension");
        ranges[i] = t..t + 1;
    }
    for r in ranges.iter_mut().take(n - 2) {
        if r.len() > 1 {
            *r = 0..1;
        }
    }
    let mut bytes = reader
        .read(&var.name, &ranges)
        .map_err(|e| Error::Convert(Box::new(e)))?;
    let (w, h) = (g.x.len, g.y.len);
    let item = dtype.size();
    if g.transposed {
        bytes = transpose(&bytes, w, h, item);
    }
    if g.y_increasing() {
        flip_rows(&mut bytes, w * item);
    }
    let roll = options.roll_longitude && g.lon_0_360();
    if roll {
        roll_rows(&mut bytes, w * item, g.roll_at() * item);
    }
    let key = match slice.step {
        Some(t) => format!("{}_t{t:03}", var.name),
        None => var.name.clone(),
    };
    let tmp = job.workdir.join(format!("{key}.src.tif"));
    let nodata = var.fill.or_else(|| var.attr_f64("missing_value"));
    write_gtiff(
        &tmp,
        dtype,
        w,
        h,
        bytes,
        g.geotransform(roll),
        &g.crs.wkt2,
        nodata,
        var,
    )
    .map_err(|e| convert_err(path, format!("writing a GeoTIFF of `{}`: {e}", var.name)))?;
    let cog_path = job.workdir.join(format!("{}_{key}.tif", job.item_id));
    let report = cog::write_cog(&tmp, &cog_path, cog)?;
    let _ = std::fs::remove_file(&tmp);
    let mut profile = inspect(&cog_path, &InspectOptions::default())?;
    if g.geographic {
        // Our own footprint normalises 0–360 longitudes.
        let mut rolled = g.clone();
        if roll {
            rolled.x.first -= 180.0;
        }
        profile.footprint = Some(
            rolled
                .footprint(path)
                .map_err(|e| Error::Convert(Box::new(e)))?,
        );
    }
    if let Some(code) = &g.crs.code {
        profile.crs.code = Some(code.clone());
    }
    for b in &mut profile.bands {
        b.unit = var.attr_str("units").map(str::to_string);
        b.description = var
            .attr_str("long_name")
            .map(str::to_string)
            .or_else(|| Some(var.name.clone()));
    }
    let mut artifact = Artifact::from_file(&key, &cog_path, COG_MEDIA_TYPE, &["data"])?;
    artifact.title = Some(match slice.time {
        Some(t) => format!(
            "{} at {}",
            var.attr_str("long_name").unwrap_or(&var.name),
            t.to_rfc3339()
        ),
        None => var.attr_str("long_name").unwrap_or(&var.name).to_string(),
    });
    artifact.header_size = Some(report.header_size);
    artifact.raster = Some(profile);
    if let Some(t) = slice.time {
        artifact.properties.insert(
            "datetime".into(),
            t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true).into(),
        );
    }
    if let Some((start, end)) = slice.bounds {
        for (key, t) in [("start_datetime", start), ("end_datetime", end)] {
            artifact.properties.insert(
                key.into(),
                t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true).into(),
            );
        }
    }
    Ok(artifact)
}

/// The bounds of each time step, when the time coordinate names a CF
/// `bounds` variable (pairs, in the coordinate's units and calendar).
#[allow(clippy::type_complexity)]
fn time_bounds(
    path: &Path,
    inventory: &Inventory,
    coord: &Variable,
    read: &dyn Fn(&Variable) -> crate::Result<Vec<f64>>,
) -> Result<Option<Vec<Option<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)>>>> {
    let Some(bounds) = coord.attr_str("bounds").and_then(|b| inventory.var(b)) else {
        return Ok(None);
    };
    let values = read(bounds).map_err(|e| Error::Convert(Box::new(e)))?;
    if values.len() != 2 * coord.shape.iter().product::<usize>() {
        return Err(convert_err(
            path,
            format!("`{}` does not hold two bounds per time step", bounds.name),
        ));
    }
    let decoded = decode_times(path, coord, &values)?;
    Ok(Some(
        decoded
            .chunks(2)
            .map(|pair| match pair {
                [Some(a), Some(b)] => Some((*a, *b)),
                _ => None,
            })
            .collect(),
    ))
}

fn decode_times(
    path: &Path,
    coord: &Variable,
    values: &[f64],
) -> Result<Vec<Option<chrono::DateTime<chrono::Utc>>>> {
    let times = cf::time_axis(coord, values)
        .map_err(|m| convert_err(path, format!("time axis `{}`: {m}", coord.name)))?;
    Ok(times.iter().map(cf::CfDateTime::to_utc).collect())
}

/// Turns `cols` rows of `rows` elements (x-major) into `rows` rows of
/// `cols` elements (y-major): element (r, c) of the result is element
/// (c, r) of the source.
fn transpose(bytes: &[u8], cols: usize, rows: usize, item: usize) -> Vec<u8> {
    let mut out = vec![0u8; bytes.len()];
    for c in 0..cols {
        for r in 0..rows {
            let from = (c * rows + r) * item;
            let to = (r * cols + c) * item;
            out[to..to + item].copy_from_slice(&bytes[from..from + item]);
        }
    }
    out
}

fn flip_rows(bytes: &mut [u8], row: usize) {
    let rows = bytes.len() / row;
    for r in 0..rows / 2 {
        let (top, bottom) = bytes.split_at_mut((rows - 1 - r) * row);
        top[r * row..(r + 1) * row].swap_with_slice(&mut bottom[..row]);
    }
}

fn roll_rows(bytes: &mut [u8], row: usize, at: usize) {
    for r in bytes.chunks_exact_mut(row) {
        r.rotate_left(at);
    }
}

#[allow(clippy::too_many_arguments)]
fn write_gtiff(
    path: &Path,
    dtype: ElementType,
    w: usize,
    h: usize,
    bytes: Vec<u8>,
    gt: [f64; 6],
    wkt: &str,
    nodata: Option<f64>,
    var: &Variable,
) -> gdal::errors::Result<()> {
    let driver = DriverManager::get_driver_by_name("GTiff")?;
    let options = RasterCreationOptions::from_iter(["TILED=YES", "BIGTIFF=IF_SAFER"]);
    macro_rules! create_from {
        ($bytes:expr, $t:ty) => {{
            let bytes = $bytes;
            let values: Vec<$t> = bytes
                .chunks_exact(std::mem::size_of::<$t>())
                .map(|b| <$t>::from_ne_bytes(b.try_into().expect("element size")))
                .collect();
            let ds = driver.create_with_band_type_with_options::<$t, _>(path, w, h, 1, &options)?;
            let mut band = ds.rasterband(1)?;
            band.write((0, 0), (w, h), &mut Buffer::new((w, h), values))?;
            ds
        }};
    }
    macro_rules! create {
        ($t:ty) => {
            create_from!(bytes, $t)
        };
    }
    let mut ds = match dtype {
        // GDAL 3.6 has no signed byte type: widened to Int16.
        ElementType::Int8 => {
            let bytes: Vec<u8> = bytes
                .iter()
                .flat_map(|&b| i16::from(b as i8).to_ne_bytes())
                .collect();
            create_from!(bytes, i16)
        }
        ElementType::UInt8 => create!(u8),
        ElementType::Int16 => create!(i16),
        ElementType::UInt16 => create!(u16),
        ElementType::Int32 => create!(i32),
        ElementType::UInt32 => create!(u32),
        ElementType::Int64 => create!(i64),
        ElementType::UInt64 => create!(u64),
        ElementType::Float32 => create!(f32),
        ElementType::Float64 => create!(f64),
    };
    ds.set_geo_transform(&gt)?;
    ds.set_spatial_ref(&gdal::spatial_ref::SpatialRef::from_wkt(wkt)?)?;
    let mut band = ds.rasterband(1)?;
    band.set_no_data_value(nodata)?;
    if let Some(scale) = var.attr_f64("scale_factor") {
        band.set_scale(scale)?;
    }
    if let Some(offset) = var.attr_f64("add_offset") {
        band.set_offset(offset)?;
    }
    // The valid range of stored values, which flags (land, coast, missing)
    // lie outside of, for the band's histogram and render defaults.
    if let Some([low, high]) = var.valid_range() {
        use gdal::Metadata;
        for (key, value) in [(VALID_MIN, low), (VALID_MAX, high)] {
            if value.is_finite() {
                band.set_metadata_item(key, &value.to_string(), "")?;
            }
        }
    }
    Ok(())
}

/// Band metadata item: the smallest valid stored value (CF `valid_min`).
pub const VALID_MIN: &str = "valid_min";
/// Band metadata item: the largest valid stored value (CF `valid_max`).
pub const VALID_MAX: &str = "valid_max";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x_major_slices_are_transposed() {
        // 3 columns (x) of 2 rows (y), stored x-major: x0=[a,b], x1=[c,d], x2=[e,f].
        let b = [1u8, 2, 3, 4, 5, 6];
        assert_eq!(transpose(&b, 3, 2, 1), [1, 3, 5, 2, 4, 6]);
        let wide = [1u8, 0, 2, 0, 3, 0, 4, 0];
        assert_eq!(transpose(&wide, 2, 2, 2), [1, 0, 3, 0, 2, 0, 4, 0]);
    }

    #[test]
    fn rows_flip_and_roll() {
        let mut b = vec![1u8, 2, 3, 4, 5, 6];
        flip_rows(&mut b, 2);
        assert_eq!(b, vec![5, 6, 3, 4, 1, 2]);
        roll_rows(&mut b, 2, 1);
        assert_eq!(b, vec![6, 5, 4, 3, 2, 1]);
    }
}
