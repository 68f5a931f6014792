//! The valid-data footprint of a raster, in WGS84.
//!
//! The validity mask (nodata, NaN, alpha and internal masks) is read at a
//! decimated resolution, turned into polygons, simplified and densified in
//! pixel space, transformed to longitude/latitude with PROJ, and split at the
//! antimeridian when it crosses it.

use crate::{Error, Result};
use gdal::{raster::ColorInterpretation, Dataset};
use geo::{
    orient::Direction, unary_union, Area, BooleanOps, Coord, Densify, Euclidean, LineString,
    MapCoords, MultiPolygon, Orient, Polygon, Rect, Simplify,
};
use serde_json::{json, Value};
use stacforge_core::{Footprint, RasterProfile};
use std::collections::HashMap;
use std::path::Path;

/// The long side of the decimated mask, in cells.
const GRID: usize = 256;
/// Coordinates are rounded to this many decimal degrees (about 1 cm).
const DECIMALS: f64 = 1e7;

/// Computes the footprint of `ds`, whose profile is `profile`.
///
/// A raster whose pixels are all invalid gets the footprint of its full extent.
pub fn footprint(ds: &Dataset, path: &Path, profile: &RasterProfile) -> Result<Footprint> {
    let (w, h) = (profile.width, profile.height);
    let factor = (w.max(h) as f64 / GRID as f64).max(1.0);
    let grid = (
        ((w as f64 / factor).round() as usize).max(1),
        ((h as f64 / factor).round() as usize).max(1),
    );
    let cell = (w as f64 / grid.0 as f64, h as f64 / grid.1 as f64);
    let full = Rect::new(
        Coord { x: 0.0, y: 0.0 },
        Coord {
            x: w as f64,
            y: h as f64,
        },
    )
    .to_polygon();
    let shape = match valid_mask(ds, path, (w, h), grid)? {
        None => MultiPolygon(vec![full.clone()]),
        Some(mask) => {
            let shape = vectorize(&mask, grid, cell);
            if shape.0.is_empty() {
                MultiPolygon(vec![full.clone()])
            } else {
                shape
            }
        }
    };
    let shape = shape.simplify(cell.0.max(cell.1));
    let shape = Euclidean.densify(&shape, w.max(h) as f64 / 64.0);
    let lonlat = to_lonlat(&shape, profile, path)?;
    // After reprojection, keep only the curvature that matters at the scale
    // of one mask cell (half a cell, in degrees).
    let span = degree_span(&lonlat, (grid.0 as f64, grid.1 as f64));
    Ok(split_antimeridian(lonlat, 0.5 * span))
}

/// The size in degrees of one of the `cells` (columns, rows) dividing the
/// shape's longitude/latitude extent (the smaller of the two).
fn degree_span(lonlat: &MultiPolygon, cells: (f64, f64)) -> f64 {
    let (lon, lat) = extent(lonlat);
    (lon.min(360.0) / cells.0).min(lat / cells.1)
}

/// The longitude and latitude ranges the shape's exterior rings span.
fn extent(lonlat: &MultiPolygon) -> (f64, f64) {
    let (min, max) = lonlat.0.iter().flat_map(|p| p.exterior().coords()).fold(
        ((f64::MAX, f64::MAX), (f64::MIN, f64::MIN)),
        |((x0, y0), (x1, y1)), c| ((x0.min(c.x), y0.min(c.y)), (x1.max(c.x), y1.max(c.y))),
    );
    (max.0 - min.0, max.1 - min.1)
}

/// The footprint of the raster's whole grid (not only its valid pixels),
/// as for a tile of a tiling scheme: the extent densified along its edges,
/// transformed to WGS84 and split at the antimeridian.
pub fn of_extent(profile: &RasterProfile, path: &Path) -> Result<Footprint> {
    let (w, h) = (profile.width as f64, profile.height as f64);
    let full = MultiPolygon(vec![Rect::new(
        Coord { x: 0.0, y: 0.0 },
        Coord { x: w, y: h },
    )
    .to_polygon()]);
    let shape = Euclidean.densify(&full, w.max(h) / 64.0);
    let lonlat = to_lonlat(&shape, profile, path)?;
    // Densified for the curvature the projection may have, then only the
    // vertices that curvature needs at the scale of a pixel are kept (an
    // edge that stays straight in degrees, as a UTM tile's, keeps its ends).
    // Across the antimeridian the longitudes jump and say nothing of the
    // scale: kept dense.
    let (lon, _) = extent(&lonlat);
    let epsilon = if lon < 180.0 {
        0.5 * degree_span(&lonlat, (w, h))
    } else {
        0.0
    };
    Ok(split_antimeridian(lonlat, epsilon))
}

/// Valid cells of the decimated grid, or `None` when every pixel is valid.
fn valid_mask(
    ds: &Dataset,
    path: &Path,
    size: (usize, usize),
    grid: (usize, usize),
) -> Result<Option<Vec<bool>>> {
    let gdal_err = |e: gdal::errors::GdalError| Error::Gdal {
        path: path.to_path_buf(),
        action: "reading the validity mask",
        message: e.to_string(),
    };
    let mut valid = vec![false; grid.0 * grid.1];
    for i in 1..=ds.raster_count() {
        let band = ds.rasterband(i).map_err(gdal_err)?;
        if band.color_interpretation() == ColorInterpretation::AlphaBand {
            continue;
        }
        let flags = band.mask_flags().map_err(gdal_err)?;
        let float = matches!(
            band.band_type(),
            gdal::raster::GdalDataType::Float32 | gdal::raster::GdalDataType::Float64
        );
        let mut band_valid = if flags.is_all_valid() {
            vec![true; valid.len()]
        } else {
            let mask = band.open_mask_band().map_err(gdal_err)?;
            let buf = mask
                .read_as::<u8>((0, 0), size, grid, None)
                .map_err(gdal_err)?;
            buf.data().iter().map(|&m| m > 0).collect()
        };
        if float {
            let data = band
                .read_as::<f64>((0, 0), size, grid, None)
                .map_err(gdal_err)?;
            for (v, x) in band_valid.iter_mut().zip(data.data()) {
                *v &= !x.is_nan();
            }
        }
        if band_valid.iter().all(|&v| v) {
            return Ok(None);
        }
        for (v, b) in valid.iter_mut().zip(band_valid) {
            *v |= b;
        }
    }
    Ok(Some(valid))
}

/// Polygons covering the valid cells, in pixel coordinates of the full raster.
fn vectorize(mask: &[bool], grid: (usize, usize), cell: (f64, f64)) -> MultiPolygon {
    // Runs of valid cells per row, merged downwards while the run is unchanged.
    let mut rects: Vec<[usize; 4]> = Vec::new(); // x0, x1, y0, y1 (exclusive)
    let mut open: HashMap<(usize, usize), usize> = HashMap::new();
    for row in 0..grid.1 {
        let cells = &mask[row * grid.0..(row + 1) * grid.0];
        let mut next = HashMap::new();
        let mut x = 0;
        while x < grid.0 {
            if !cells[x] {
                x += 1;
                continue;
            }
            let start = x;
            while x < grid.0 && cells[x] {
                x += 1;
            }
            let index = match open.get(&(start, x)) {
                Some(&i) => {
                    rects[i][3] = row + 1;
                    i
                }
                None => {
                    rects.push([start, x, row, row + 1]);
                    rects.len() - 1
                }
            };
            next.insert((start, x), index);
        }
        open = next;
    }
    let polygons: Vec<Polygon> = rects
        .iter()
        .map(|r| {
            Rect::new(
                Coord {
                    x: r[0] as f64 * cell.0,
                    y: r[2] as f64 * cell.1,
                },
                Coord {
                    x: r[1] as f64 * cell.0,
                    y: r[3] as f64 * cell.1,
                },
            )
            .to_polygon()
        })
        .collect();
    let union = unary_union(&polygons);
    // Specks and pinholes smaller than a few cells are noise, not footprint.
    let min_area = 4.0 * cell.0 * cell.1;
    MultiPolygon(
        union
            .0
            .into_iter()
            .filter(|p| p.unsigned_area() >= min_area)
            .map(|p| {
                let (exterior, interiors) = p.into_inner();
                let interiors = interiors
                    .into_iter()
                    .filter(|r| Polygon::new(r.clone(), vec![]).unsigned_area() >= min_area)
                    .collect();
                Polygon::new(exterior, interiors)
            })
            .collect(),
    )
}

/// Pixel coordinates to longitude/latitude.
fn to_lonlat(shape: &MultiPolygon, profile: &RasterProfile, path: &Path) -> Result<MultiPolygon> {
    let crs_err = |message: String| Error::Crs {
        path: path.to_path_buf(),
        message,
    };
    let definition = profile.crs.code.as_deref().unwrap_or(&profile.crs.wkt2);
    let proj =
        to_wgs84(definition).map_err(|e| crs_err(format!("no transformation to WGS84: {e}")))?;
    let g = profile.geotransform;
    shape.try_map_coords(|c| {
        let x = g[0] + c.x * g[1] + c.y * g[2];
        let y = g[3] + c.x * g[4] + c.y * g[5];
        let (lon, lat) = proj
            .convert((x, y))
            .map_err(|e| crs_err(format!("cannot transform ({x}, {y}) to WGS84: {e}")))?;
        if !lon.is_finite() || !lat.is_finite() {
            return Err(crs_err(format!("({x}, {y}) has no WGS84 position")));
        }
        Ok(Coord { x: lon, y: lat })
    })
}

thread_local! {
    /// Transformations to WGS84 by source CRS definition. Creating one opens
    /// PROJ's database in a new context (milliseconds); a batch of files
    /// usually has a handful of CRSs. The cached ones are leaked on purpose:
    /// dropping them in a thread-local destructor could run while the
    /// process exits and PROJ's own globals are already gone.
    static TO_WGS84: std::cell::RefCell<std::collections::HashMap<String, &'static proj::Proj>> =
        Default::default();
}

/// Transformations cached per thread, at most.
const CACHED_TRANSFORMS: usize = 64;

/// A transformation to WGS84: cached for the thread, or owned when the
/// cache is full.
enum ToWgs84 {
    Cached(&'static proj::Proj),
    Owned(proj::Proj),
}

impl std::ops::Deref for ToWgs84 {
    type Target = proj::Proj;
    fn deref(&self) -> &proj::Proj {
        match self {
            ToWgs84::Cached(p) => p,
            ToWgs84::Owned(p) => p,
        }
    }
}

/// The transformation from `definition` to WGS84 longitude/latitude.
fn to_wgs84(definition: &str) -> std::result::Result<ToWgs84, proj::ProjCreateError> {
    TO_WGS84.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(found) = cache.get(definition) {
            return Ok(ToWgs84::Cached(found));
        }
        let created = match utm_pipeline(definition) {
            Some(pipeline) => proj::Proj::new(&pipeline)?,
            None => proj::Proj::new_known_crs(definition, "EPSG:4326", None)?,
        };
        if cache.len() >= CACHED_TRANSFORMS {
            return Ok(ToWgs84::Owned(created));
        }
        let leaked: &'static proj::Proj = Box::leak(Box::new(created));
        cache.insert(definition.to_string(), leaked);
        Ok(ToWgs84::Cached(leaked))
    })
}

/// The PROJ pipeline from a WGS 84 / UTM CRS (EPSG:326zz north, 327zz
/// south) to longitude/latitude in degrees: the operation PROJ's database
/// gives for those codes, built without opening it. A batch of UTM tiles
/// spans dozens of zones, and each new zone cost every thread a database
/// lookup (milliseconds, a tenth of the time of in-place items).
fn utm_pipeline(definition: &str) -> Option<String> {
    let code: u32 = definition.strip_prefix("EPSG:")?.parse().ok()?;
    let (zone, south) = match code {
        32601..=32660 => (code - 32600, ""),
        32701..=32760 => (code - 32700, " +south"),
        _ => return None,
    };
    Some(format!(
        "+proj=pipeline +step +inv +proj=utm +zone={zone}{south} +ellps=WGS84 \
         +step +proj=unitconvert +xy_in=rad +xy_out=deg"
    ))
}

/// Makes each ring's longitudes continuous (no jump over 180°).
fn unwrap_ring(ring: &LineString, reference: f64) -> LineString {
    let mut previous = reference;
    ring.0
        .iter()
        .map(|c| {
            let mut lon = c.x;
            while lon - previous > 180.0 {
                lon -= 360.0;
            }
            while lon - previous < -180.0 {
                lon += 360.0;
            }
            previous = lon;
            Coord { x: lon, y: c.y }
        })
        .collect()
}

fn round(value: f64) -> f64 {
    (value * DECIMALS).round() / DECIMALS
}

/// Splits at the antimeridian and builds the GeoJSON geometry and bbox.
/// `epsilon` is the simplification tolerance in degrees.
fn split_antimeridian(shape: MultiPolygon, epsilon: f64) -> Footprint {
    let mut parts = Vec::new();
    let (mut west, mut south, mut east, mut north) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    let mut crosses = false;
    let mut polar = false;
    for polygon in &shape.0 {
        let reference = polygon.exterior().0.first().map_or(0.0, |c| c.x);
        let mut exterior = unwrap_ring(polygon.exterior(), reference);
        // A ring that winds once around a pole ends 360° from where it
        // started: close it through the pole so that it encloses it.
        let (first, last) = (exterior.0[0], exterior.0[exterior.0.len() - 1]);
        if ((last.x - first.x).abs() - 360.0).abs() < 1e-6 {
            polar = true;
            let mean_lat = exterior.0.iter().map(|c| c.y).sum::<f64>() / exterior.0.len() as f64;
            let pole = if mean_lat >= 0.0 { 90.0 } else { -90.0 };
            exterior.0.push(Coord { x: last.x, y: pole });
            exterior.0.push(Coord {
                x: first.x,
                y: pole,
            });
            exterior.0.push(first);
            north = north.max(pole);
            south = south.min(pole);
        }
        let interiors = polygon
            .interiors()
            .iter()
            .map(|r| unwrap_ring(r, reference))
            .collect();
        // The bbox is the dense ring's: simplifying may drop an extreme
        // vertex (by less than `epsilon`), never one the bbox must cover.
        let dense = Polygon::new(exterior, interiors);
        for c in dense.exterior().coords() {
            west = west.min(c.x);
            east = east.max(c.x);
            south = south.min(c.y);
            north = north.max(c.y);
        }
        let unwrapped = dense.simplify(epsilon);
        let (min, max) = unwrapped
            .exterior()
            .coords()
            .fold((f64::MAX, f64::MIN), |(a, b), c| (a.min(c.x), b.max(c.x)));
        if min >= -180.0 && max <= 180.0 {
            parts.push(unwrapped);
            continue;
        }
        crosses = true;
        for shift in [-720.0, -360.0, 0.0, 360.0, 720.0] {
            let window = Rect::new(
                Coord {
                    x: -180.0 + shift,
                    y: -90.0,
                },
                Coord {
                    x: 180.0 + shift,
                    y: 90.0,
                },
            )
            .to_polygon();
            for piece in unwrapped.intersection(&window) {
                parts.push(piece.map_coords(|c| Coord {
                    x: c.x - shift,
                    y: c.y,
                }));
            }
        }
    }
    if polar {
        west = -180.0;
        east = 180.0;
        crosses = false;
    }
    let bbox = if crosses {
        let wrap = |lon: f64| {
            if lon > 180.0 {
                lon - 360.0
            } else if lon < -180.0 {
                lon + 360.0
            } else {
                lon
            }
        };
        [
            round(wrap(west)),
            round(south),
            round(wrap(east)),
            round(north),
        ]
    } else {
        [round(west), round(south), round(east), round(north)]
    };
    let rings = |p: &Polygon| -> Value {
        let p = p.orient(Direction::Default);
        let ring = |r: &LineString| -> Value {
            Value::Array(
                r.coords()
                    .map(|c| json!([round(c.x), round(c.y)]))
                    .collect(),
            )
        };
        let mut out = vec![ring(p.exterior())];
        out.extend(p.interiors().iter().map(ring));
        Value::Array(out)
    };
    let geometry = if parts.len() == 1 {
        json!({"type": "Polygon", "coordinates": rings(&parts[0])})
    } else {
        json!({"type": "MultiPolygon", "coordinates": parts.iter().map(rings).collect::<Vec<_>>()})
    };
    Footprint { geometry, bbox }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utm_pipelines_equal_the_database_operations() {
        for (code, points) in [
            (
                "EPSG:32611",
                [
                    (400_000.0, 5_000_000.0),
                    (166_021.0, 0.0),
                    (833_978.0, 9_300_000.0),
                ],
            ),
            (
                "EPSG:32733",
                [
                    (500_000.0, 10_000_000.0),
                    (200_000.0, 1_200_000.0),
                    (799_000.0, 6_000_000.0),
                ],
            ),
            (
                "EPSG:32601",
                [
                    (300_000.0, 7_000_000.0),
                    (700_000.0, 100.0),
                    (500_000.0, 9_000_000.0),
                ],
            ),
            (
                "EPSG:32760",
                [
                    (600_000.0, 4_000_000.0),
                    (250_000.0, 9_999_000.0),
                    (500_000.0, 500.0),
                ],
            ),
        ] {
            let fast = proj::Proj::new(&utm_pipeline(code).unwrap()).unwrap();
            let known = proj::Proj::new_known_crs(code, "EPSG:4326", None).unwrap();
            for p in points {
                let a: (f64, f64) = fast.convert(p).unwrap();
                let b: (f64, f64) = known.convert(p).unwrap();
                assert!(
                    (a.0 - b.0).abs() < 1e-9 && (a.1 - b.1).abs() < 1e-9,
                    "{code} {p:?}: {a:?} vs {b:?}"
                );
            }
        }
        assert_eq!(utm_pipeline("EPSG:32661"), None);
        assert_eq!(utm_pipeline("EPSG:3031"), None);
        assert_eq!(utm_pipeline("ESRI:32611"), None);
    }

    fn square(x0: f64, y0: f64, x1: f64, y1: f64) -> Polygon {
        Rect::new(Coord { x: x0, y: y0 }, Coord { x: x1, y: y1 }).to_polygon()
    }

    #[test]
    fn vectorize_merges_rows_and_drops_specks() {
        // A 4x4 grid: a 2x3 block at the left, and a lone cell at (3, 3).
        #[rustfmt::skip]
        let mask = [
            true, true, false, false,
            true, true, false, false,
            true, true, false, false,
            false, false, false, true,
        ];
        let shape = vectorize(&mask, (4, 4), (10.0, 10.0));
        assert_eq!(shape.0.len(), 1, "the lone cell is a speck: {shape:?}");
        assert_eq!(shape.unsigned_area(), 600.0);
    }

    #[test]
    fn antimeridian_crossing_is_split_and_bbox_wraps() {
        // A box from 170°E to 170°W, as PROJ returns it (longitudes wrapped).
        let ring = LineString::from(vec![
            (170.0, -10.0),
            (-170.0, -10.0),
            (-170.0, 10.0),
            (170.0, 10.0),
            (170.0, -10.0),
        ]);
        let fp = split_antimeridian(MultiPolygon(vec![Polygon::new(ring, vec![])]), 0.0);
        assert_eq!(fp.geometry["type"], "MultiPolygon");
        assert_eq!(fp.bbox, [170.0, -10.0, -170.0, 10.0]);
        for part in fp.geometry["coordinates"].as_array().unwrap() {
            for c in part[0].as_array().unwrap() {
                let lon = c[0].as_f64().unwrap();
                assert!((-180.0..=180.0).contains(&lon), "{lon}");
            }
        }
    }

    #[test]
    fn ring_around_the_pole_encloses_it() {
        // A circle of latitude 70°N, as PROJ returns it from a polar grid.
        let mut ring: Vec<(f64, f64)> = (0..=36)
            .map(|i| (((i * 10) as f64 + 180.0) % 360.0 - 180.0, 70.0))
            .collect();
        ring[36] = ring[0];
        let fp = split_antimeridian(
            MultiPolygon(vec![Polygon::new(LineString::from(ring), vec![])]),
            0.0,
        );
        assert_eq!(fp.bbox, [-180.0, 70.0, 180.0, 90.0]);
        let json = fp.geometry.to_string();
        assert!(json.contains("90.0"), "reaches the pole: {json}");
    }

    #[test]
    fn ordinary_polygon_is_kept() {
        let fp = split_antimeridian(MultiPolygon(vec![square(1.0, 2.0, 3.0, 4.0)]), 0.0);
        assert_eq!(fp.geometry["type"], "Polygon");
        assert_eq!(fp.bbox, [1.0, 2.0, 3.0, 4.0]);
    }
}
