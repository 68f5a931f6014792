//! GDAL-free description of GeoTIFFs for in-place items: the raster
//! profile (size, sample type, CRS by EPSG code, geotransform, nodata,
//! scale/offset, descriptions, colour interpretation, acquisition time) read
//! from the TIFF tags the layout checker already read, with no GDAL open and
//! no CRS building.
//!
//! It covers what GeoTIFFs usually are: GeoKeys naming an EPSG code, a
//! north-up tiepoint and scale (or transformation matrix; pixel-is-point
//! shifted by half a pixel as GDAL does), gray or RGB samples. Anything else
//! (user-defined CRS parameters, palettes, rotated grids, YCbCr, …) gives
//! `None`, and
//! the caller asks GDAL, which then describes (or refuses) the file exactly
//! as before.

use crate::layout::{RawTag, Report};
use stacforge_core::{BandProfile, Crs, DataType, RasterProfile, Timing};

struct Tags<'a> {
    tags: &'a [RawTag],
    big_endian: bool,
}

impl Tags<'_> {
    fn get(&self, tag: u16) -> Option<&RawTag> {
        self.tags.iter().find(|t| t.tag == tag)
    }

    /// Integer values (BYTE, SHORT, LONG, LONG8).
    fn uints(&self, tag: u16) -> Option<Vec<u64>> {
        let t = self.get(tag)?;
        let size = match t.typ {
            1 => 1,
            3 => 2,
            4 => 4,
            16 => 8,
            _ => return None,
        };
        Some(
            t.bytes
                .chunks_exact(size)
                .map(|c| {
                    let mut b = [0u8; 8];
                    if self.big_endian {
                        b[8 - size..].copy_from_slice(c);
                        u64::from_be_bytes(b)
                    } else {
                        b[..size].copy_from_slice(c);
                        u64::from_le_bytes(b)
                    }
                })
                .collect(),
        )
    }

    fn uint(&self, tag: u16) -> Option<u64> {
        self.uints(tag)?.first().copied()
    }

    /// DOUBLE values.
    fn doubles(&self, tag: u16) -> Option<Vec<f64>> {
        let t = self.get(tag)?;
        (t.typ == 12).then(|| {
            t.bytes
                .chunks_exact(8)
                .map(|c| {
                    let b: [u8; 8] = c.try_into().expect("8 bytes");
                    if self.big_endian {
                        f64::from_be_bytes(b)
                    } else {
                        f64::from_le_bytes(b)
                    }
                })
                .collect()
        })
    }

    /// ASCII value, without its terminating NUL.
    fn text(&self, tag: u16) -> Option<String> {
        let t = self.get(tag)?;
        (t.typ == 2).then(|| {
            let end = t
                .bytes
                .iter()
                .position(|&b| b == 0)
                .unwrap_or(t.bytes.len());
            String::from_utf8_lossy(&t.bytes[..end]).into_owned()
        })
    }
}

/// GeoKeys that only name or describe an EPSG CRS.
const GT_MODEL_TYPE: u64 = 1024;
const GT_RASTER_TYPE: u64 = 1025;
const GT_CITATION: u64 = 1026;
const GEOGRAPHIC_TYPE: u64 = 2048;
const GEOG_CITATION: u64 = 2049;
const GEOG_ANGULAR_UNITS: u64 = 2054;
const SEMI_MAJOR: u64 = 2057;
const INV_FLATTENING: u64 = 2059;
const PROJECTED_CS_TYPE: u64 = 3072;
const PCS_CITATION: u64 = 3073;
const PROJ_LINEAR_UNITS: u64 = 3076;

/// The EPSG code the GeoKeys name, when they name one and say nothing
/// else, and whether pixels are points (GTRasterTypeGeoKey 2).
fn epsg(tags: &Tags) -> Option<(String, bool)> {
    let dir = tags.uints(34735)?;
    let (header, keys) = (dir.get(..4)?, &dir[4..]);
    if header[0] != 1 || keys.len() < 4 * header[3] as usize {
        return None;
    }
    let params = tags.doubles(34736).unwrap_or_default();
    let double = |key: &[u64]| -> Option<f64> {
        (key[1] == 34736 && key[2] == 1)
            .then(|| params.get(key[3] as usize).copied())
            .flatten()
    };
    let mut ellipsoid = Vec::new();
    let mut model = None;
    let mut point = false;
    let (mut geographic, mut projected) = (None, None);
    for key in keys.chunks_exact(4).take(header[3] as usize) {
        let (id, location, value) = (key[0], key[1], key[3]);
        let short = (location == 0).then_some(value);
        match id {
            GT_MODEL_TYPE => model = short,
            GT_RASTER_TYPE if short == Some(1) => {}
            GT_RASTER_TYPE if short == Some(2) => point = true,
            GT_CITATION | GEOG_CITATION | PCS_CITATION => {}
            GEOG_ANGULAR_UNITS if short == Some(9102) => {}
            PROJ_LINEAR_UNITS if short == Some(9001) => {}
            // GDAL writes WGS 84's ellipsoid beside EPSG:4326.
            SEMI_MAJOR | INV_FLATTENING => ellipsoid.push((id, double(key)?)),
            GEOGRAPHIC_TYPE => geographic = short,
            PROJECTED_CS_TYPE => projected = short,
            _ => return None,
        }
    }
    let wgs84 = ellipsoid.iter().all(|&(id, v)| match id {
        SEMI_MAJOR => v == 6378137.0,
        _ => (v - 298.257223563).abs() < 1e-9,
    });
    let declared_wgs84 = wgs84 && geographic == Some(4326) && projected.is_none();
    if !ellipsoid.is_empty() && !declared_wgs84 {
        return None;
    }
    let code = match model? {
        1 => projected?,
        2 if projected.is_none() => geographic?,
        _ => return None,
    };
    (1..32767)
        .contains(&code)
        .then(|| (format!("EPSG:{code}"), point))
}

/// GDAL's geotransform from the tiepoint and pixel scale, or the matrix;
/// `None` when rotated or with several tiepoints.
fn geotransform(tags: &Tags) -> Option<[f64; 6]> {
    if let Some(m) = tags.doubles(34264) {
        let m: [f64; 16] = m.get(..16)?.try_into().ok()?;
        return (m[1] == 0.0 && m[4] == 0.0).then_some([m[3], m[0], 0.0, m[7], 0.0, m[5]]);
    }
    let tie = tags.doubles(33922)?;
    let scale = tags.doubles(33550)?;
    if tie.len() != 6 || scale.len() < 2 {
        return None;
    }
    Some([
        tie[3] - tie[0] * scale[0],
        scale[0],
        0.0,
        tie[4] + tie[1] * scale[1],
        0.0,
        -scale[1],
    ])
}

fn data_type(bits: u64, format: u64) -> Option<DataType> {
    Some(match (format, bits) {
        (1, 8) => DataType::UInt8,
        (2, 8) => DataType::Int8,
        (1, 16) => DataType::UInt16,
        (2, 16) => DataType::Int16,
        (1, 32) => DataType::UInt32,
        (2, 32) => DataType::Int32,
        (1, 64) => DataType::UInt64,
        (2, 64) => DataType::Int64,
        (3, 32) => DataType::Float32,
        (3, 64) => DataType::Float64,
        _ => return None,
    })
}

/// `&amp;` and friends.
fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// One `<Item>` of GDAL's metadata XML: its attributes and value.
type Item = (Vec<(String, String)>, String);

/// The `<Item>`s of GDAL's metadata XML.
fn items(xml: &str) -> Option<Vec<Item>> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find("<Item") {
        rest = &rest[start + 5..];
        let close = rest.find('>')?;
        let (attrs, after) = (&rest[..close], &rest[close + 1..]);
        if attrs.ends_with('/') {
            rest = after;
            continue;
        }
        let end = after.find("</Item>")?;
        let value = unescape(&after[..end]);
        let mut list = Vec::new();
        let mut a = attrs;
        while let Some(eq) = a.find("=\"") {
            let name = a[..eq].trim().to_string();
            let tail = &a[eq + 2..];
            let q = tail.find('"')?;
            list.push((name, unescape(&tail[..q])));
            a = &tail[q + 1..];
        }
        out.push((list, value));
        rest = &after[end + 7..];
    }
    Some(out)
}

/// The profile of the GeoTIFF whose layout `report` holds, without GDAL;
/// `None` when the file is not of the kind this reader covers.
pub fn profile(report: &Report) -> Option<RasterProfile> {
    let tags = Tags {
        tags: &report.tags,
        big_endian: report.big_endian,
    };
    let width = tags.uint(256)? as usize;
    let height = tags.uint(257)? as usize;
    let bands = tags.uint(277).unwrap_or(1) as usize;
    if bands == 0 || tags.get(320).is_some() {
        return None;
    }
    let bits = tags.uints(258).unwrap_or_else(|| vec![1]);
    let formats = tags.uints(339).unwrap_or_else(|| vec![1]);
    let types: Vec<DataType> = (0..bands)
        .map(|i| {
            data_type(
                *bits.get(i).or(bits.first())?,
                *formats.get(i).or(formats.first())?,
            )
        })
        .collect::<Option<_>>()?;
    if types.iter().any(|t| *t != types[0]) {
        return None;
    }
    let photometric = tags.uint(262)?;
    let extra = tags.uints(338).unwrap_or_default();
    let base: &[&str] = match photometric {
        1 => &["gray"],
        2 if bands >= 3 => &["red", "green", "blue"],
        _ => return None,
    };
    let colors: Vec<String> = (0..bands)
        .map(|i| match base.get(i) {
            Some(c) => c.to_string(),
            None => match extra.get(i - base.len()) {
                Some(1 | 2) => "alpha".to_string(),
                _ => "undefined".to_string(),
            },
        })
        .collect();
    let (code, point) = epsg(&tags)?;
    let mut geotransform = geotransform(&tags)?;
    if point {
        // GDAL's default (GTIFF_POINT_GEO_IGNORE=NO): the tiepoint is a
        // pixel's centre, so the grid starts half a pixel before it.
        if std::env::var_os("GTIFF_POINT_GEO_IGNORE").is_some() {
            return None;
        }
        geotransform[0] -= 0.5 * geotransform[1];
        geotransform[3] -= 0.5 * geotransform[5];
    }
    let nodata = match tags.text(42113) {
        None => None,
        Some(t) => Some(match t.trim() {
            "nan" | "NaN" | "-nan" => f64::NAN,
            "inf" => f64::INFINITY,
            "-inf" => f64::NEG_INFINITY,
            v => v.parse().ok()?,
        }),
    };
    let metadata = match tags.text(42112) {
        Some(xml) => items(&xml)?,
        None => Vec::new(),
    };
    let attr = |attrs: &[(String, String)], key: &str| -> Option<String> {
        attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    };
    let band_value = |band: usize, role: &str| -> Option<String> {
        metadata.iter().find_map(|(attrs, value)| {
            (attr(attrs, "role").as_deref() == Some(role)
                && attr(attrs, "sample").and_then(|s| s.parse::<usize>().ok()) == Some(band))
            .then(|| value.clone())
        })
    };
    let mut profile_bands = Vec::with_capacity(bands);
    for (i, color) in colors.into_iter().enumerate() {
        let number = |role| match band_value(i, role) {
            None => Some(None),
            Some(v) => v.trim().parse::<f64>().ok().map(Some),
        };
        profile_bands.push(BandProfile {
            description: band_value(i, "description").filter(|d| !d.is_empty()),
            data_type: types[i],
            nodata,
            scale: number("scale")?,
            offset: number("offset")?,
            unit: band_value(i, "unittype").filter(|u| !u.is_empty()),
            color,
            has_palette: false,
            statistics: None,
            histogram: None,
            palette: Vec::new(),
        });
    }
    // As GDAL's metadata domains give it: IMAGERY's acquisition time, the
    // DateTime tag, then a DATETIME item.
    let dataset_item = |name: &str, domain: Option<&str>| {
        metadata.iter().find_map(|(attrs, value)| {
            (attr(attrs, "name").as_deref() == Some(name)
                && attr(attrs, "sample").is_none()
                && attr(attrs, "domain").as_deref() == domain)
                .then(|| value.clone())
        })
    };
    let parse = |v: String| Timing::from_tiff_tag(&v).or_else(|| v.parse().ok());
    let timing = dataset_item("ACQUISITIONDATETIME", Some("IMAGERY"))
        .and_then(parse)
        .or_else(|| tags.text(306).and_then(parse))
        .or_else(|| dataset_item("DATETIME", None).and_then(parse));
    Some(RasterProfile {
        width,
        height,
        crs: Crs {
            code: Some(code),
            wkt2: String::new(),
            projjson: None,
        },
        geotransform,
        bands: profile_bands,
        footprint: None,
        timing,
    })
}
