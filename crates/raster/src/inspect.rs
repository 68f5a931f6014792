//! Opening a raster and describing it as a [`RasterProfile`].

use crate::native::ValueCounts;
use crate::{footprint, gdal_app, Error, Result, Unsupported};
use gdal::{raster::RasterBand, Dataset, Metadata};
use stacforge_core::{BandProfile, Crs, DataType, Histogram, RasterProfile, Statistics, Timing};
use std::ffi::CStr;
use std::path::Path;

/// What [`inspect`] computes beyond the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InspectOptions {
    /// Exact statistics of every band (reads all pixels).
    pub statistics: bool,
    /// The valid-data footprint in WGS84 (reads a decimated mask).
    pub footprint: bool,
}

impl Default for InspectOptions {
    fn default() -> Self {
        InspectOptions {
            statistics: true,
            footprint: true,
        }
    }
}

/// Whether GDAL's HDF5 driver would try `path` as a family of files: GDAL
/// 3.6 does when the path holds exactly one `0` (or ends in `0.h5`,
/// `0.hdf5`), replacing it with `%d`, and HDF5's family driver then
/// *creates* the members it does not find (empty files beside the source)
/// when the file is not a complete HDF5 file.
fn family_like(path: &Path) -> bool {
    let text = path.to_string_lossy();
    text.matches('0').count() == 1 || text.contains("0.h5") || text.contains("0.hdf5")
}

/// Every registered GDAL driver but the two HDF5 ones.
fn drivers_but_hdf5() -> &'static Vec<String> {
    static DRIVERS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    DRIVERS.get_or_init(|| {
        (0..gdal::DriverManager::count())
            .filter_map(|i| gdal::DriverManager::get_driver(i).ok())
            .map(|d| d.short_name())
            .filter(|n| n != "HDF5" && n != "HDF5Image")
            .collect()
    })
}

/// Opens a file read-only whether or not it has bands of its own (HDF and
/// NetCDF containers have subdatasets instead). A path that GDAL's HDF5 driver
/// would take for a family of files is opened without that driver, so
/// that a corrupt file never makes HDF5 create files beside it.
pub fn open_container(path: &Path) -> Result<Dataset> {
    crate::init();
    if path.is_dir() {
        return Err(Error::Open {
            path: path.to_path_buf(),
            message: "is a directory, not a file".to_string(),
        });
    }
    let without_hdf5: Vec<&str>;
    let allowed_drivers = if family_like(path) {
        without_hdf5 = drivers_but_hdf5().iter().map(String::as_str).collect();
        Some(without_hdf5.as_slice())
    } else {
        None
    };
    let options = gdal::DatasetOptions {
        open_flags: gdal::GdalOpenFlags::GDAL_OF_RASTER
            | gdal::GdalOpenFlags::GDAL_OF_READONLY
            | gdal::GdalOpenFlags::GDAL_OF_VERBOSE_ERROR,
        allowed_drivers,
        ..Default::default()
    };
    let ds = Dataset::open_ex(path, options).map_err(|e| Error::Open {
        path: path.to_path_buf(),
        message: match e {
            gdal::errors::GdalError::NullPointer { msg, .. } if !msg.is_empty() => msg,
            other => other.to_string(),
        },
    })?;
    Ok(ds)
}

/// The names of a container's subdatasets (GDAL's `SUBDATASET_N_NAME`), in order.
pub fn subdatasets(ds: &Dataset) -> Vec<String> {
    let mut names: Vec<(usize, String)> = ds
        .metadata_domain("SUBDATASETS")
        .unwrap_or_default()
        .iter()
        .filter_map(|kv| {
            let (key, value) = kv.split_once('=')?;
            let n = key.strip_prefix("SUBDATASET_")?.strip_suffix("_NAME")?;
            Some((n.parse().ok()?, value.to_string()))
        })
        .collect();
    names.sort();
    names.into_iter().map(|(_, name)| name).collect()
}

/// Opens a raster read-only, with an error that names the file.
pub fn open(path: &Path) -> Result<Dataset> {
    let ds = open_container(path)?;
    if ds.raster_count() == 0 {
        let subdatasets = ds.metadata_domain("SUBDATASETS").unwrap_or_default();
        return Err(if subdatasets.is_empty() {
            Error::Unsupported {
                path: path.to_path_buf(),
                reason: Unsupported::NoBands,
            }
        } else {
            Error::Open {
                path: path.to_path_buf(),
                message: format!(
                    "the file is a container of {} subdatasets; name one (e.g. {})",
                    subdatasets.len() / 2,
                    subdatasets[0].split_once('=').map_or("", |(_, v)| v)
                ),
            }
        });
    }
    Ok(ds)
}

/// Checks that the raster is north-up, has a CRS and real-valued bands;
/// returns its geotransform and CRS.
pub fn georeferencing(ds: &Dataset, path: &Path) -> Result<([f64; 6], Crs)> {
    let (gt, srs) = grid(ds, path)?;
    Ok((gt, crs(&srs, path)?))
}

/// Checks what [`georeferencing`] checks (real bands, a north-up
/// geotransform, a CRS) without describing the CRS, which needs PROJ's
/// database: what a conversion needs before it starts.
pub fn check_georeferencing(ds: &Dataset, path: &Path) -> Result<()> {
    grid(ds, path).map(|_| ())
}

/// The geotransform and CRS of a georeferenced, north-up raster.
fn grid(ds: &Dataset, path: &Path) -> Result<([f64; 6], gdal::spatial_ref::SpatialRef)> {
    let unsupported = |reason| Error::Unsupported {
        path: path.to_path_buf(),
        reason,
    };
    for i in 1..=ds.raster_count() {
        let band = band(ds, path, i)?;
        data_type(&band, i).map_err(unsupported)?;
    }
    let gt = match ds.geo_transform() {
        Ok(gt) => gt,
        Err(_) => {
            let count = ds.gcps().len();
            return Err(unsupported(if count > 0 {
                Unsupported::GcpOnly { count }
            } else {
                Unsupported::NotGeoreferenced
            }));
        }
    };
    if gt[2] != 0.0 || gt[4] != 0.0 {
        return Err(unsupported(Unsupported::Rotated { geotransform: gt }));
    }
    let srs = match ds.spatial_ref() {
        Ok(srs) if !ds.projection().is_empty() => srs,
        _ => return Err(unsupported(Unsupported::NoCrs)),
    };
    Ok((gt, srs))
}

/// The CRS by authority code where it has one, with WKT2 and PROJJSON.
pub fn crs(srs: &gdal::spatial_ref::SpatialRef, path: &Path) -> Result<Crs> {
    let code = match (srs.auth_name(), srs.auth_code()) {
        (Some(name), Ok(code)) => Some(format!("{name}:{code}")),
        _ => None,
    };
    let wkt2 = gdal_app::wkt2(srs).ok_or_else(|| Error::Crs {
        path: path.to_path_buf(),
        message: "GDAL cannot export it as WKT2".to_string(),
    })?;
    let projjson = srs
        .to_projjson()
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok());
    Ok(Crs {
        code,
        wkt2,
        projjson,
    })
}

fn band<'a>(ds: &'a Dataset, path: &Path, index: usize) -> Result<RasterBand<'a>> {
    ds.rasterband(index).map_err(|e| Error::Gdal {
        path: path.to_path_buf(),
        action: "reading a band",
        message: e.to_string(),
    })
}

/// The band's pixel type, or why it is refused.
fn data_type(band: &RasterBand, index: usize) -> std::result::Result<DataType, Unsupported> {
    use gdal_sys::GDALDataType as T;
    // SAFETY: the band handle is valid for the borrow of `band`; the type
    // name is a static string owned by GDAL.
    let (raw, name, complex) = unsafe {
        let raw = gdal_sys::GDALGetRasterDataType(band.c_rasterband());
        let name = CStr::from_ptr(gdal_sys::GDALGetDataTypeName(raw))
            .to_string_lossy()
            .into_owned();
        (raw, name, gdal_sys::GDALDataTypeIsComplex(raw) != 0)
    };
    if complex {
        return Err(Unsupported::Complex {
            band: index,
            data_type: name,
        });
    }
    let signed_byte = band
        .metadata_item("PIXELTYPE", "IMAGE_STRUCTURE")
        .is_some_and(|v| v == "SIGNEDBYTE");
    Ok(match raw {
        T::GDT_Byte if signed_byte => DataType::Int8,
        T::GDT_Byte => DataType::UInt8,
        T::GDT_UInt16 => DataType::UInt16,
        T::GDT_Int16 => DataType::Int16,
        T::GDT_UInt32 => DataType::UInt32,
        T::GDT_Int32 => DataType::Int32,
        T::GDT_UInt64 => DataType::UInt64,
        T::GDT_Int64 => DataType::Int64,
        T::GDT_Float32 => DataType::Float32,
        T::GDT_Float64 => DataType::Float64,
        _ => {
            return Err(Unsupported::DataType {
                band: index,
                data_type: name,
            })
        }
    })
}

fn statistics(band: &RasterBand) -> Option<Statistics> {
    let [minimum, maximum, mean, stddev] = gdal_app::compute_statistics(band)?;
    let valid_percent = band
        .metadata_item("STATISTICS_VALID_PERCENT", "")
        .and_then(|v| v.parse::<f64>().ok());
    Some(Statistics {
        minimum,
        maximum,
        mean,
        stddev,
        valid_percent,
    })
}

/// The pixels a histogram is computed from exactly; larger rasters use
/// GDAL's approximate histogram (from an overview).
const EXACT_HISTOGRAM_PIXELS: usize = 64 << 20;

/// The histogram of a band's valid pixels over their range: one bucket per
/// value for integers spanning at most 1024 values, else 256 buckets (and
/// never fewer than 3, as the raster extension asks).
fn histogram(
    band: &RasterBand,
    data_type: DataType,
    s: &Statistics,
    pixels: usize,
) -> Option<Histogram> {
    let approx = pixels > EXACT_HISTOGRAM_PIXELS;
    histogram_with(band, data_type, s, &|low, high, buckets, include| {
        let h = band.histogram(low, high, buckets, include, approx).ok()?;
        Some(h.counts().to_vec())
    })
}

/// Counts of valid values in `buckets` equal buckets over [low, high), as
/// GDAL's `GetHistogram` counts them (out-of-range values in the end
/// buckets when `include`).
type CountBuckets<'a> = dyn Fn(f64, f64, usize, bool) -> Option<Vec<u64>> + 'a;

fn histogram_with(
    band: &RasterBand,
    data_type: DataType,
    s: &Statistics,
    count: &CountBuckets,
) -> Option<Histogram> {
    let integral = !matches!(data_type, DataType::Float32 | DataType::Float64);
    // Values outside the band's valid range are flags (land, coast,
    // missing), not data: the histogram leaves them out.
    let [low, high] = valid_range(band).unwrap_or([f64::NEG_INFINITY, f64::INFINITY]);
    let (lowest, highest) = (s.minimum.max(low), s.maximum.min(high));
    if lowest > highest {
        return None;
    }
    let span = highest - lowest;
    let (minimum, maximum, buckets) = if integral && span < 1024.0 {
        let n = (span as usize + 1).max(3);
        (lowest - 0.5, lowest - 0.5 + n as f64, n)
    } else if span > 0.0 && span.is_finite() {
        (lowest, highest, 256)
    } else {
        (lowest - 0.5, lowest + 2.5, 3)
    };
    let clipped = lowest > s.minimum || highest < s.maximum;
    let mut histogram = Histogram {
        minimum,
        maximum,
        counts: count(minimum, maximum, buckets, !clipped)?,
    };
    // A few outliers (an undeclared fill value of 1e20, say) squeeze the
    // data into a bucket or two: count again over those buckets, the rest
    // in the end buckets, until the percentiles are sharp (each round
    // narrows the range some 85 times; rare, and cheap on an overview).
    if clipped || buckets != 256 {
        return Some(histogram);
    }
    for _ in 0..12 {
        let width = (histogram.maximum - histogram.minimum) / 256.0;
        let bucket = |p: f64| {
            let v = histogram.percentile(p)?;
            Some((((v - histogram.minimum) / width) as usize).min(255))
        };
        let (Some(first), Some(last)) = (bucket(0.02), bucket(0.98)) else {
            break;
        };
        let low = histogram.minimum + width * first as f64;
        let high = histogram.minimum + width * (last + 1) as f64;
        if last - first > 2 || high <= low {
            break;
        }
        let Some(fine) = count(low, high, 256, true) else {
            break;
        };
        histogram = Histogram {
            minimum: low,
            maximum: high,
            counts: fine,
        };
    }
    Some(histogram)
}

/// The band's valid range of stored values, from its `valid_min` and
/// `valid_max` metadata (as stacforge writes them) or a netCDF
/// `valid_range` (`{0,100}`, as GDAL's netCDF driver shows it).
fn valid_range(band: &RasterBand) -> Option<[f64; 2]> {
    let item = |key: &str| band.metadata_item(key, "");
    if let Some(range) = item("valid_range") {
        let values: Vec<f64> = (range.trim_matches(|c| c == '{' || c == '}').split(','))
            .filter_map(|v| v.trim().parse().ok())
            .collect();
        if let [low, high] = values[..] {
            return Some([low, high]);
        }
    }
    let number = |key: &str| item(key).and_then(|v| v.trim().parse::<f64>().ok());
    let (low, high) = (number("valid_min"), number("valid_max"));
    (low.is_some() || high.is_some()).then(|| {
        [
            low.unwrap_or(f64::NEG_INFINITY),
            high.unwrap_or(f64::INFINITY),
        ]
    })
}

/// A band's colour table as `[r, g, b, a]` entries by pixel value.
fn palette(band: &RasterBand) -> Vec<[u8; 4]> {
    let Some(table) = band.color_table() else {
        return Vec::new();
    };
    (0..table.entry_count())
        .filter_map(|i| table.entry_as_rgb(i))
        .map(|c| [c.r, c.g, c.b, c.a].map(|v| v.clamp(0, 255) as u8))
        .collect()
}

/// The acquisition time recorded in the file, if any.
fn timing(ds: &Dataset) -> Option<Timing> {
    let candidates = [
        ("ACQUISITIONDATETIME", "IMAGERY"),
        ("TIFFTAG_DATETIME", ""),
        ("DATETIME", ""),
    ];
    candidates.iter().find_map(|(key, domain)| {
        let value = ds.metadata_item(key, domain)?;
        Timing::from_tiff_tag(&value).or_else(|| value.parse().ok())
    })
}

/// Statistics of the valid values `counts` holds (GDAL's population
/// standard deviation; the valid percentage as GDAL records it, to four
/// significant digits).
fn counted_statistics(
    counts: &ValueCounts,
    band: usize,
    nodata: Option<f64>,
) -> Option<Statistics> {
    let (mut n, mut sum, mut squares) = (0u64, 0f64, 0f64);
    let (mut minimum, mut maximum) = (f64::INFINITY, f64::NEG_INFINITY);
    for (v, c) in counts.valid(band, nodata) {
        n += c;
        sum += v * c as f64;
        squares += v * v * c as f64;
        minimum = minimum.min(v);
        maximum = maximum.max(v);
    }
    if n == 0 {
        return None;
    }
    let mean = sum / n as f64;
    let stddev = (squares / n as f64 - mean * mean).max(0.0).sqrt();
    let percent = 100.0 * n as f64 / counts.pixels() as f64;
    Some(Statistics {
        minimum,
        maximum,
        mean,
        stddev,
        valid_percent: format!("{percent:.3e}").parse().ok(),
    })
}

/// GDAL's `GetHistogram` over `counts`.
fn counted_buckets(
    counts: &ValueCounts,
    band: usize,
    nodata: Option<f64>,
) -> impl Fn(f64, f64, usize, bool) -> Option<Vec<u64>> + '_ {
    move |low, high, buckets, include| {
        let scale = buckets as f64 / (high - low);
        let mut out = vec![0u64; buckets];
        for (v, c) in counts.valid(band, nodata) {
            let index = ((v - low) * scale).floor();
            if index < 0.0 {
                if include {
                    out[0] += c;
                }
            } else if index >= buckets as f64 {
                if include {
                    out[buckets - 1] += c;
                }
            } else {
                out[index as usize] += c;
            }
        }
        Some(out)
    }
}

/// Opens `path` and describes it. Refuses rasters that cannot be placed on
/// Earth or whose bands are complex, naming the file and the reason.
pub fn inspect(path: &Path, options: &InspectOptions) -> Result<RasterProfile> {
    inspect_counted(path, options, None)
}

/// [`inspect`], with the statistics and histograms taken from `counts` (the
/// native COG writer's count of every value, made while it wrote `path`)
/// instead of reading the pixels again.
pub fn inspect_counted(
    path: &Path,
    options: &InspectOptions,
    counts: Option<&ValueCounts>,
) -> Result<RasterProfile> {
    let ds = open(path)?;
    let counts = counts.filter(|c| c.bands() == ds.raster_count());
    let (geotransform, crs) = georeferencing(&ds, path)?;
    let (width, height) = ds.raster_size();
    let mut bands = Vec::with_capacity(ds.raster_count());
    for i in 1..=ds.raster_count() {
        let band = band(&ds, path, i)?;
        let data_type = data_type(&band, i).map_err(|reason| Error::Unsupported {
            path: path.to_path_buf(),
            reason,
        })?;
        let description = band.description().ok().filter(|d| !d.is_empty());
        bands.push(BandProfile {
            description,
            data_type,
            nodata: band.no_data_value(),
            scale: band.scale(),
            offset: band.offset(),
            unit: Some(band.unit()).filter(|u| !u.is_empty()),
            color: band.color_interpretation().name().to_lowercase(),
            has_palette: band.color_table().is_some(),
            statistics: None,
            histogram: None,
            palette: palette(&band),
        });
        if options.statistics {
            let last = bands.last_mut().expect("pushed");
            if let Some(counts) = counts {
                last.statistics = counted_statistics(counts, i - 1, last.nodata);
                let buckets = counted_buckets(counts, i - 1, last.nodata);
                last.histogram = (last.statistics.as_ref())
                    .and_then(|s| histogram_with(&band, last.data_type, s, &buckets));
            } else {
                last.statistics = statistics(&band);
                last.histogram = (last.statistics.as_ref())
                    .and_then(|s| histogram(&band, last.data_type, s, width * height));
            }
        }
    }
    let mut profile = RasterProfile {
        width,
        height,
        crs,
        geotransform,
        bands,
        footprint: None,
        timing: timing(&ds),
    };
    if options.footprint {
        profile.footprint = Some(footprint::footprint(&ds, path, &profile)?);
    }
    Ok(profile)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gdal::DriverManager;

    /// A float band of values 0..1 with a few undeclared 1e20 fills.
    fn outliers(path: &Path) {
        let driver = DriverManager::get_driver_by_name("GTiff").unwrap();
        let mut ds = driver
            .create_with_band_type::<f32, _>(path, 100, 100, 1)
            .unwrap();
        ds.set_geo_transform(&[0.0, 1.0, 0.0, 0.0, 0.0, -1.0])
            .unwrap();
        let mut values: Vec<f32> = (0..10_000).map(|i| (i % 100) as f32 / 100.0).collect();
        for v in values.iter_mut().take(10) {
            *v = 1e20;
        }
        let mut buffer = gdal::raster::Buffer::new((100, 100), values);
        let mut band = ds.rasterband(1).unwrap();
        band.write((0, 0), (100, 100), &mut buffer).unwrap();
    }

    #[test]
    fn outliers_do_not_blunt_the_percentiles() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outliers.tif");
        outliers(&path);
        let ds = Dataset::open(&path).unwrap();
        let band = ds.rasterband(1).unwrap();
        let s = statistics(&band).unwrap();
        assert!(s.maximum > 1e19, "the fills are in the statistics");
        let h = histogram(&band, DataType::Float32, &s, 10_000).unwrap();
        assert_eq!(h.counts.iter().sum::<u64>(), 10_000, "every pixel counted");
        let (p2, p98) = (h.percentile(0.02).unwrap(), h.percentile(0.98).unwrap());
        assert!((0.0..0.05).contains(&p2), "{p2}");
        assert!((0.95..1.0).contains(&p98), "{p98}");
    }
}
