//! Subsets of a Zarr store by coordinate values, as clisops selects them:
//! a longitude/latitude box (0–360 longitudes and curvilinear grids
//! handled), a time range in the store's own calendar, and a range of
//! vertical levels. The subset is a new store with the same arrays,
//! attributes and encoding, cut to the selected index ranges.

use crate::cf::{self, Axis, CfDateTime, TimeUnits};
use crate::inventory::{Inventory, Variable};
use crate::recipe::{chunk_shape, read_f64};
use crate::zarr::{self, StoreMeta, StoredArray};
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

/// What to keep.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selection {
    /// West, south, east, north, in degrees (west > east is refused).
    pub bbox: Option<[f64; 4]>,
    /// First and last instant, in the data's calendar.
    pub time: Option<(CfDateTime, CfDateTime)>,
    /// Lowest and highest level value, in the vertical coordinate's units.
    pub level: Option<(f64, f64)>,
}

impl Selection {
    /// Whether anything is selected.
    pub fn is_empty(&self) -> bool {
        self.bbox.is_none() && self.time.is_none() && self.level.is_none()
    }

    /// The selection in words, for lineage and messages.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some([w, s, e, n]) = self.bbox {
            parts.push(format!("bbox {w},{s},{e},{n}"));
        }
        if let Some((a, b)) = &self.time {
            parts.push(format!("time {}/{}", show(a), show(b)));
        }
        if let Some((lo, hi)) = self.level {
            parts.push(format!("level {lo}/{hi}"));
        }
        parts.join(", ")
    }
}

fn show(t: &CfDateTime) -> String {
    let s = t.seconds.floor() as i64;
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year,
        t.month,
        t.day,
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Parses `YYYY-MM-DD[THH:MM[:SS]]` as a date in any calendar (30
/// February is a day of the 360-day calendar). An end given as a bare
/// date means the end of that day.
pub fn parse_date(text: &str, end: bool) -> std::result::Result<CfDateTime, String> {
    let bad = || format!("`{text}` is not YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]");
    let (date, time) = match text.split_once(['T', ' ']) {
        Some((d, t)) => (d, Some(t.trim_end_matches('Z'))),
        None => (text, None),
    };
    let mut d = date.splitn(3, '-');
    let year: i64 = d.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
    let month: u32 = d.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
    let day: u32 = d.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err(bad());
    }
    let seconds = match time {
        None if end => 86_400.0 - 1e-6,
        None => 0.0,
        Some(t) => {
            let parts: Vec<f64> = t
                .split(':')
                .map(|p| p.parse::<f64>().map_err(|_| bad()))
                .collect::<std::result::Result<_, _>>()?;
            match parts.as_slice() {
                [h, m] => h * 3600.0 + m * 60.0,
                [h, m, s] => h * 3600.0 + m * 60.0 + s,
                _ => return Err(bad()),
            }
        }
    };
    Ok(CfDateTime {
        year,
        month,
        day,
        seconds,
    })
}

/// Writes the subset of the store at `src` that `selection` keeps to a new
/// store at `dst`; returns the index range kept of each dimension cut.
pub fn subset_store(
    src: &Path,
    dst: &Path,
    selection: &Selection,
) -> Result<BTreeMap<String, Range<usize>>> {
    let meta = StoreMeta::read(src)?;
    let inventory = Inventory::from_store(src, &meta);
    let read = |v: &Variable| -> Result<Vec<f64>> {
        let stored = meta.array(&v.name).ok_or_else(|| Error::Store {
            store: src.to_path_buf(),
            message: format!("`{}` is not an array of the store", v.name),
        })?;
        read_f64(&zarr::Store::dir(src), stored)
    };
    let cuts = ranges(src, &inventory, &read, selection)?;
    let mut out = meta.clone();
    for array in &mut out.arrays {
        let dims = array.dims();
        if !dims.iter().any(|d| cuts.contains_key(d)) {
            continue; // copied as it is, chunks and all
        }
        let mut shape = array.shape();
        for (d, len) in dims.iter().zip(shape.iter_mut()) {
            if let Some(r) = cuts.get(d) {
                *len = r.len() as u64;
            }
        }
        set_shape_and_chunks(array, &shape);
    }
    std::fs::create_dir_all(dst).map_err(|source| Error::Io {
        path: dst.to_path_buf(),
        source,
    })?;
    for (old, new) in meta.arrays.iter().zip(&out.arrays) {
        let dims = old.dims();
        let io = |source| Error::Io {
            path: dst.join(&old.name),
            source,
        };
        if !dims.iter().any(|d| cuts.contains_key(d)) {
            // Untouched: its chunks as they are (linked: stores' files are
            // replaced by renaming, never rewritten).
            stacforge_core::fs::link_tree(&src.join(&old.name), &dst.join(&old.name))
                .map_err(io)?;
            continue;
        }
        std::fs::create_dir_all(dst.join(&old.name)).map_err(io)?;
        copy_array(src, dst, old, new, &dims, &cuts)?;
    }
    // Metadata last: the store is complete when its root document is there.
    out.write(dst)?;
    Ok(cuts)
}

/// Sets an array's shape, and its chunks to fit inside it.
fn set_shape_and_chunks(array: &mut StoredArray, shape: &[u64]) {
    array.set_shape(shape);
    let chunks = if array.meta.get("chunk_grid").is_some() {
        &mut array.meta["chunk_grid"]["configuration"]["chunk_shape"]
    } else {
        &mut array.meta["chunks"]
    };
    if let Some(list) = chunks.as_array_mut() {
        for (c, &n) in list.iter_mut().zip(shape) {
            let len = c.as_u64().unwrap_or(1).min(n.max(1));
            *c = serde_json::json!(len);
        }
    }
}

/// Copies the selected part of one array, a slab of chunks along its first
/// dimension at a time.
fn copy_array(
    src: &Path,
    dst: &Path,
    old: &StoredArray,
    new: &StoredArray,
    dims: &[String],
    cuts: &BTreeMap<String, Range<usize>>,
) -> Result<()> {
    let store_err = |store: &Path, e: String| Error::Store {
        store: store.to_path_buf(),
        message: format!("subsetting `{}`: {e}", old.name),
    };
    let from = zarr::open_array(src, old)?;
    // The new array's metadata document, for zarrs to open it.
    let doc = match new.meta.get("zarr_format") {
        Some(v) if v == 2 => ".zarray",
        _ => "zarr.json",
    };
    zarr::write_json(&dst.join(&new.name).join(doc), &new.meta)?;
    if doc == ".zarray" {
        zarr::write_json(
            &dst.join(&new.name).join(".zattrs"),
            &serde_json::Value::Object(new.attrs.clone()),
        )?;
    }
    let to = zarr::open_array(dst, new)?;
    let shape = old.shape();
    let selected: Vec<Range<u64>> = dims
        .iter()
        .zip(&shape)
        .map(|(d, &n)| match cuts.get(d) {
            Some(r) => r.start as u64..r.end as u64,
            None => 0..n,
        })
        .collect();
    let step = chunk_shape(new).first().copied().unwrap_or(1).max(1);
    let mut at = 0u64;
    let rows = selected.first().map_or(1, |r| r.end - r.start);
    loop {
        let end = (at + step).min(rows);
        let mut read = selected.clone();
        let mut write: Vec<Range<u64>> = selected.iter().map(|r| 0..r.end - r.start).collect();
        if let (Some(r), Some(w)) = (read.first_mut(), write.first_mut()) {
            *r = r.start + at..r.start + end;
            *w = at..end;
        }
        let bytes = from
            .retrieve_array_subset(&zarrs::array::ArraySubset::new_with_ranges(&read))
            .map_err(|e: zarrs::array::ArrayError| store_err(src, e.to_string()))?;
        let bytes: zarrs::array::ArrayBytes = bytes;
        to.store_array_subset(&zarrs::array::ArraySubset::new_with_ranges(&write), bytes)
            .map_err(|e| store_err(dst, e.to_string()))?;
        if end >= rows || selected.is_empty() {
            break;
        }
        at = end;
    }
    Ok(())
}

/// The index range kept of each dimension the selection cuts.
fn ranges(
    store: &Path,
    inventory: &Inventory,
    read: &dyn Fn(&Variable) -> Result<Vec<f64>>,
    selection: &Selection,
) -> Result<BTreeMap<String, Range<usize>>> {
    let refuse = |message: String| Error::Unsupported {
        path: store.to_path_buf(),
        message,
    };
    let mut cuts = BTreeMap::new();
    let dim_coords = || {
        inventory
            .dims
            .iter()
            .filter_map(|d| cf::coordinate(inventory, &d.name))
    };
    if let Some((start, end)) = &selection.time {
        let time = dim_coords()
            .find(|c| cf::is_time(c))
            .ok_or_else(|| refuse("--time: the data have no time axis".into()))?;
        let units = TimeUnits::parse(
            time.attr_str("units").unwrap_or_default(),
            time.attr_str("calendar"),
        )
        .map_err(|m| refuse(format!("time axis `{}`: {m}", time.name)))?;
        let (a, b) = (units.encode(start), units.encode(end));
        let values = read(time)?;
        let r = within(&values, a, b).ok_or_else(|| {
            refuse(format!(
                "--time {}/{}: no time step in that range (the data run from {} to {})",
                show(start),
                show(end),
                values
                    .first()
                    .and_then(|v| units.decode(*v))
                    .map_or_else(String::new, |t| show(&t)),
                values
                    .last()
                    .and_then(|v| units.decode(*v))
                    .map_or_else(String::new, |t| show(&t)),
            ))
        })?;
        cuts.insert(time.dims[0].clone(), r);
    }
    if let Some((lo, hi)) = selection.level {
        let level = dim_coords()
            .find(|c| {
                c.attr_str("axis") == Some("Z")
                    || c.attrs.contains_key("positive")
                    || matches!(
                        c.attr_str("standard_name"),
                        Some(
                            "air_pressure" | "depth" | "height" | "model_level_number" | "altitude"
                        )
                    )
            })
            .ok_or_else(|| refuse("--level: the data have no vertical axis".into()))?;
        let values = read(level)?;
        let r = within(&values, lo.min(hi), lo.max(hi)).ok_or_else(|| {
            refuse(format!(
                "--level {lo}/{hi}: no level of `{}` in that range",
                level.name
            ))
        })?;
        cuts.insert(level.dims[0].clone(), r);
    }
    if let Some([w, s, e, n]) = selection.bbox {
        if w > e || s > n {
            return Err(refuse(format!(
                "--bbox {w},{s},{e},{n}: west must not exceed east, nor south north (a box across the antimeridian is two boxes)"
            )));
        }
        let x = dim_coords().find(|c| cf::horizontal_axis(c) == Some(Axis::X));
        let y = dim_coords().find(|c| cf::horizontal_axis(c) == Some(Axis::Y));
        match (x, y) {
            (Some(x), Some(y)) => {
                let lons = read(x)?;
                let (w, e) =
                    lon_window(&lons, w, e).ok_or_else(|| {
                        refuse(format!(
                        "--bbox: longitudes {w} to {e} cross the grid's seam at {}; split the box",
                        if lons.iter().any(|v| *v > 180.0) { "0°/360°" } else { "±180°" }
                    ))
                    })?;
                let rx = within(&lons, w, e);
                let ry = within(&read(y)?, s, n);
                let (Some(rx), Some(ry)) = (rx, ry) else {
                    return Err(refuse(format!(
                        "--bbox {w},{s},{e},{n}: no grid cell centre inside it"
                    )));
                };
                cuts.insert(x.dims[0].clone(), rx);
                cuts.insert(y.dims[0].clone(), ry);
            }
            _ => {
                let (dims, keep) = curvilinear_box(inventory, read, [w, s, e, n])?
                    .ok_or_else(|| refuse("--bbox: the data have no longitude/latitude".into()))?;
                let Some((rj, ri)) = keep else {
                    return Err(refuse(format!(
                        "--bbox {w},{s},{e},{n}: no grid cell centre inside it"
                    )));
                };
                cuts.insert(dims[0].clone(), rj);
                cuts.insert(dims[1].clone(), ri);
            }
        }
    }
    Ok(cuts)
}

/// The contiguous index range of the values within [lo, hi] (monotonic
/// values, either way).
fn within(values: &[f64], lo: f64, hi: f64) -> Option<Range<usize>> {
    let inside: Vec<usize> = (0..values.len())
        .filter(|&i| values[i] >= lo && values[i] <= hi)
        .collect();
    Some(*inside.first()?..*inside.last()? + 1)
}

/// The bbox's longitudes in the grid's convention (0–360 or −180–180), or
/// `None` when they cross the grid's seam.
fn lon_window(lons: &[f64], w: f64, e: f64) -> Option<(f64, f64)> {
    if e - w >= 360.0 {
        return Some((f64::NEG_INFINITY, f64::INFINITY));
    }
    let zero_360 = lons.iter().any(|v| *v > 180.0);
    let norm = |v: f64| {
        if zero_360 {
            v.rem_euclid(360.0)
        } else {
            (v + 180.0).rem_euclid(360.0) - 180.0
        }
    };
    let (a, b) = (norm(w), norm(e));
    // An east edge on the seam itself (180 or 360) is the seam's far side.
    let b = if b < a && (e - w) > 0.0 && (b == 0.0 || b == -180.0) {
        b + 360.0
    } else {
        b
    };
    (a <= b).then_some((a, b))
}

/// The smallest index box of a curvilinear grid (2-D latitude/longitude)
/// holding every cell whose centre is inside the bbox: its dimensions and
/// ranges (`None` when no cell is inside); `None` when there is no such grid.
#[allow(clippy::type_complexity)]
fn curvilinear_box(
    inventory: &Inventory,
    read: &dyn Fn(&Variable) -> Result<Vec<f64>>,
    [w, s, e, n]: [f64; 4],
) -> Result<Option<([String; 2], Option<(Range<usize>, Range<usize>)>)>> {
    let Some((var, lat, lon)) = crate::grid::curvilinear_coordinates(inventory) else {
        return Ok(None);
    };
    let dims = [var.dims.len() - 2, var.dims.len() - 1].map(|k| var.dims[k].clone());
    let len = |d: &str| inventory.dim(d).map_or(0, |d| d.len);
    let (rows, cols) = (len(&dims[0]), len(&dims[1]));
    let (lats, lons) = (read(lat)?, read(lon)?);
    let norm = |v: f64| (v + 180.0).rem_euclid(360.0) - 180.0;
    let (w, e) = (norm(w), if e - w >= 360.0 { 180.0 } else { norm(e) });
    let (mut j0, mut j1, mut i0, mut i1) = (usize::MAX, 0, usize::MAX, 0);
    for j in 0..rows {
        for i in 0..cols {
            let (y, x) = (lats[j * cols + i], lons[j * cols + i]);
            if !(-90.0..=90.0).contains(&y) || !(-360.0..=720.0).contains(&x) {
                continue; // fill values over land
            }
            let x = norm(x);
            let inside_x = if w <= e {
                x >= w && x <= e
            } else {
                x >= w || x <= e
            };
            if y >= s && y <= n && inside_x {
                (j0, j1, i0, i1) = (j0.min(j), j1.max(j + 1), i0.min(i), i1.max(i + 1));
            }
        }
    }
    let keep = (j0 < j1).then_some((j0..j1, i0..i1));
    Ok(Some((dims, keep)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_longitude_windows() {
        let feb30 = parse_date("2005-02-30", false).unwrap();
        assert_eq!((feb30.year, feb30.month, feb30.day), (2005, 2, 30));
        assert!(parse_date("2005-02-30", true).unwrap().seconds > 86_399.0);
        assert_eq!(
            parse_date("2005-01-01T06:30", false).unwrap().seconds,
            23_400.0
        );
        assert!(parse_date("2005/01/01", false).is_err());
        let grid_0_360 = [0.0, 90.0, 180.0, 270.0];
        assert_eq!(lon_window(&grid_0_360, -90.0, -10.0), Some((270.0, 350.0)));
        assert_eq!(lon_window(&grid_0_360, 10.0, 40.0), Some((10.0, 40.0)));
        assert_eq!(lon_window(&grid_0_360, -10.0, 10.0), None);
        assert_eq!(lon_window(&grid_0_360, 100.0, 360.0), Some((100.0, 360.0)));
        let grid_180 = [-135.0, -45.0, 45.0, 135.0];
        assert_eq!(lon_window(&grid_180, 170.0, 190.0), None);
        assert_eq!(lon_window(&grid_180, 200.0, 250.0), Some((-160.0, -110.0)));
        assert_eq!(within(&[5.0, 4.0, 3.0, 2.0], 2.5, 4.5), Some(1..3));
        assert_eq!(within(&[1.0, 2.0], 5.0, 6.0), None);
    }
}
