//! Typed profiles: what conversion learnt about the data, from which STAC is built.

use serde::{Deserialize, Serialize};

use crate::Timing;

/// A raster's grid, reference system, bands and footprint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RasterProfile {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// The coordinate reference system.
    pub crs: Crs,
    /// The affine transform in GDAL order `[x0, dx, rx, y0, ry, dy]`.
    pub geotransform: [f64; 6],
    /// One entry per band, in order.
    pub bands: Vec<BandProfile>,
    /// Valid-data footprint in WGS84, when it was computed.
    pub footprint: Option<Footprint>,
    /// Acquisition time found in the file's own metadata.
    #[serde(skip)]
    pub timing: Option<Timing>,
}

impl RasterProfile {
    /// The transform in the order STAC's `proj:transform` uses
    /// (`[dx, rx, x0, ry, dy, y0]`, the first six of an affine matrix).
    pub fn stac_transform(&self) -> [f64; 6] {
        let g = self.geotransform;
        [g[1], g[2], g[0], g[4], g[5], g[3]]
    }

    /// Bounding box in the raster's own CRS, `[xmin, ymin, xmax, ymax]`.
    pub fn native_bbox(&self) -> [f64; 4] {
        let g = self.geotransform;
        let (w, h) = (self.width as f64, self.height as f64);
        let xs = [g[0], g[0] + w * g[1] + h * g[2]];
        let ys = [g[3], g[3] + w * g[4] + h * g[5]];
        [
            xs[0].min(xs[1]),
            ys[0].min(ys[1]),
            xs[0].max(xs[1]),
            ys[0].max(ys[1]),
        ]
    }

    /// Ground sample distance in CRS units (the larger of the two pixel sides).
    pub fn resolution(&self) -> f64 {
        self.geotransform[1].abs().max(self.geotransform[5].abs())
    }
}

/// A coordinate reference system, by code where one exists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Crs {
    /// `AUTHORITY:CODE`, e.g. `EPSG:32618`, when the CRS has one.
    pub code: Option<String>,
    /// WKT2 (2019) text.
    pub wkt2: String,
    /// PROJJSON, when PROJ could express it.
    pub projjson: Option<serde_json::Value>,
}

/// Pixel data types, named as STAC names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum DataType {
    Int8,
    Int16,
    Int32,
    Int64,
    UInt8,
    UInt16,
    UInt32,
    UInt64,
    Float32,
    Float64,
}

impl DataType {
    /// Whether values are floating point (and so may be NaN).
    pub fn is_float(self) -> bool {
        matches!(self, DataType::Float32 | DataType::Float64)
    }

    /// The name STAC uses (`uint8`, `float32`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            DataType::Int8 => "int8",
            DataType::Int16 => "int16",
            DataType::Int32 => "int32",
            DataType::Int64 => "int64",
            DataType::UInt8 => "uint8",
            DataType::UInt16 => "uint16",
            DataType::UInt32 => "uint32",
            DataType::UInt64 => "uint64",
            DataType::Float32 => "float32",
            DataType::Float64 => "float64",
        }
    }

    /// Bits per sample.
    pub fn bits(self) -> u32 {
        match self {
            DataType::Int8 | DataType::UInt8 => 8,
            DataType::Int16 | DataType::UInt16 => 16,
            DataType::Int32 | DataType::UInt32 | DataType::Float32 => 32,
            DataType::Int64 | DataType::UInt64 | DataType::Float64 => 64,
        }
    }
}

/// One band of a raster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BandProfile {
    /// The band's description in the file, if any.
    pub description: Option<String>,
    /// Pixel type.
    pub data_type: DataType,
    /// The nodata value (may be NaN).
    pub nodata: Option<f64>,
    /// Scale to apply to stored values.
    pub scale: Option<f64>,
    /// Offset to apply after scaling.
    pub offset: Option<f64>,
    /// Unit of the (scaled) values.
    pub unit: Option<String>,
    /// GDAL colour interpretation in lowercase (`red`, `gray`, `palette`, `alpha`, …).
    pub color: String,
    /// Whether the band carries a colour table.
    pub has_palette: bool,
    /// Statistics of valid pixels, when computed.
    pub statistics: Option<Statistics>,
    /// Histogram of valid pixels, computed with the statistics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub histogram: Option<Histogram>,
    /// The colour table's entries (`[r, g, b, a]` by pixel value), when
    /// the band has one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub palette: Vec<[u8; 4]>,
}

impl BandProfile {
    /// The eo:common_name implied by the colour interpretation, if any.
    pub fn common_name(&self) -> Option<&'static str> {
        match self.color.as_str() {
            "red" => Some("red"),
            "green" => Some("green"),
            "blue" => Some("blue"),
            _ => None,
        }
    }
}

/// Statistics of a band's valid pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Statistics {
    /// Smallest value.
    pub minimum: f64,
    /// Largest value.
    pub maximum: f64,
    /// Mean.
    pub mean: f64,
    /// Standard deviation.
    pub stddev: f64,
    /// Percentage of pixels that are valid, when known.
    pub valid_percent: Option<f64>,
}

/// A histogram of a band's valid pixels: `counts` in equal buckets from
/// `minimum` to `maximum` (for integers of a small range, one bucket per
/// value, centred on it). Where a few outliers would squeeze the data into
/// a bucket or two, the range is the data's and the outliers are counted
/// in the end buckets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// Lower edge of the first bucket.
    pub minimum: f64,
    /// Upper edge of the last bucket.
    pub maximum: f64,
    /// Pixels per bucket.
    pub counts: Vec<u64>,
}

impl Histogram {
    /// At most `most` buckets (and at least 3): neighbours summed, the
    /// range extended to keep the buckets equal.
    pub fn coarsened(&self, most: usize) -> Histogram {
        let n = self.counts.len();
        let factor = n.div_ceil(most.max(3));
        if factor <= 1 {
            return self.clone();
        }
        let width = (self.maximum - self.minimum) / n as f64 * factor as f64;
        let mut counts: Vec<u64> = self.counts.chunks(factor).map(|c| c.iter().sum()).collect();
        counts.resize(counts.len().max(3), 0);
        Histogram {
            minimum: self.minimum,
            maximum: self.minimum + width * counts.len() as f64,
            counts,
        }
    }

    /// The value below which `fraction` (0–1) of the pixels lie, linear
    /// within a bucket; the bucket's own value when buckets are single
    /// integers. `None` when the histogram is empty.
    pub fn percentile(&self, fraction: f64) -> Option<f64> {
        let total: u64 = self.counts.iter().sum();
        if total == 0 {
            return None;
        }
        let width = (self.maximum - self.minimum) / self.counts.len() as f64;
        let integers = width == 1.0 && (self.minimum + 0.5).fract() == 0.0;
        let target = fraction.clamp(0.0, 1.0) * total as f64;
        let mut below = 0u64;
        for (i, &count) in self.counts.iter().enumerate() {
            if count > 0 && (below + count) as f64 >= target {
                let low = self.minimum + width * i as f64;
                if integers {
                    return Some(low + 0.5);
                }
                let within = ((target - below as f64) / count as f64).clamp(0.0, 1.0);
                return Some(low + width * within);
            }
            below += count;
        }
        Some(self.maximum)
    }
}

/// Where the valid data lies on Earth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Footprint {
    /// A GeoJSON Polygon or MultiPolygon in WGS84 longitude/latitude.
    pub geometry: serde_json::Value,
    /// `[west, south, east, north]`; west > east when it crosses the antimeridian.
    pub bbox: [f64; 4],
}
