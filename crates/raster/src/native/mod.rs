//! stacforge's native COG writer: one pass over the source, every level
//! computed in memory from the level above, every tile compressed once on
//! all cores, and the file laid out as GDAL's COG driver lays it out.
//!
//! The source is read in whole tile rows (all bands at once): straight from
//! the file, as stored, when it is an uncompressed, stripped GeoTIFF
//! ([`source`]; a band-interleaved one's bands come one after the other),
//! else through GDAL, pixel-interleaved. Each tile row of the
//! full-resolution image is handed to the worker threads, which cut it
//! into tiles (interleaving the bands), apply the predictor and compress
//! them; meanwhile the reader
//! halves the row into the first overview, whose tile rows are handed on
//! the same way, and so on down to the smallest level. Only one tile row per level is held uncompressed.
//! Compressed tiles are kept until the last one is done, then the header,
//! every IFD and the data (smallest overview first, GDAL's block leaders and
//! trailers) are written in one sequential pass: no temporary file.
//!
//! The tags that describe the dataset (GeoKeys, GDAL metadata, nodata,
//! photometric interpretation, extra samples, sample format, palette) are
//! the ones GDAL's GeoTIFF driver writes for it: GDAL makes a one-pixel
//! GeoTIFF of the same dataset in memory and its tags are copied.
//!
//! [`plan`] says what the writer cannot do; [`crate::cog::write_cog`] then
//! uses GDAL's COG driver.

mod codec;
mod source;
mod tiff;

use crate::cog::{CogOptions, Compression, Predictor, Resampling};
use crate::{gdal_app, Error, Result};
use codec::Predict;
use gdal::{Dataset, Metadata};
use std::path::Path;
use std::sync::{Arc, Mutex};

const GMF_PER_DATASET: i32 = 0x02;
const GMF_ALPHA: i32 = 0x04;
const GMF_NODATA: i32 = 0x08;

/// How a sample is interpreted (for average overviews and nodata).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Unsigned,
    Signed,
    Float,
}

/// How many times each value occurs in each band of the full-resolution
/// image (8- and 16-bit integer samples), counted by the native writer as
/// it compresses the tiles: the statistics and histograms of an item with
/// no second read of the pixels ([`crate::inspect::inspect_counted`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ValueCounts {
    signed: bool,
    size: usize,
    pixels: u64,
    counts: Vec<Vec<u64>>,
}

impl ValueCounts {
    fn new(signed: bool, size: usize, bands: usize, pixels: u64) -> ValueCounts {
        ValueCounts {
            signed,
            size,
            pixels,
            counts: vec![vec![0; 1 << (8 * size)]; bands],
        }
    }

    /// Bands counted.
    pub fn bands(&self) -> usize {
        self.counts.len()
    }

    /// Pixels of each band.
    pub fn pixels(&self) -> u64 {
        self.pixels
    }

    fn value(&self, index: usize) -> f64 {
        match (self.signed, self.size) {
            (true, 1) => f64::from(index as u8 as i8),
            (true, _) => f64::from(index as u16 as i16),
            _ => index as f64,
        }
    }

    /// (value, count) of the values of `band` (0-based) that occur and are
    /// not `nodata`.
    pub fn valid(&self, band: usize, nodata: Option<f64>) -> impl Iterator<Item = (f64, u64)> + '_ {
        self.counts[band]
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, c)| (self.value(i), *c))
            .filter(move |(v, _)| nodata != Some(*v))
    }

    fn add(&mut self, other: &ValueCounts) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
    }
}

/// A worker's counts: 32-bit counters (half the cache of 64-bit ones: a
/// band of 16-bit samples takes 256 kB), spilled into [`ValueCounts`]
/// before any could overflow.
#[derive(Debug)]
struct Tally {
    total: ValueCounts,
    narrow: Vec<Vec<u32>>,
    /// Samples of one band counted since the last spill.
    since_spill: u64,
}

impl Tally {
    fn new(total: ValueCounts) -> Tally {
        let narrow = vec![vec![0; 1 << (8 * total.size)]; total.bands()];
        Tally {
            total,
            narrow,
            since_spill: 0,
        }
    }

    fn spill(&mut self) {
        for (wide, narrow) in self.total.counts.iter_mut().zip(&mut self.narrow) {
            for (w, n) in wide.iter_mut().zip(narrow.iter_mut()) {
                *w += u64::from(std::mem::take(n));
            }
        }
        self.since_spill = 0;
    }

    /// The counts, every counter spilled.
    fn finish(mut self) -> ValueCounts {
        self.spill();
        self.total
    }

    /// Spills first if counting `region` more samples of a band could
    /// overflow a 32-bit counter.
    fn make_room(&mut self, region: u64) {
        if self.since_spill + region > u64::from(u32::MAX) {
            self.spill();
        }
        self.since_spill += region;
    }

    /// Counts the samples of the region `cols` x `rows` at column `x0` of a
    /// strip `width` pixels wide.
    fn tally(&mut self, strip: &[u8], width: usize, x0: usize, cols: usize, rows: usize) {
        self.make_room((cols * rows) as u64);
        let bands = self.narrow.len();
        let px = bands * self.total.size;
        for y in 0..rows {
            let row = &strip[(y * width + x0) * px..(y * width + x0 + cols) * px];
            match (self.total.size, bands) {
                (1, _) => tally_bytes(&mut self.narrow, row),
                (_, 1) => tally_u16::<1>(&mut self.narrow, row),
                (_, 2) => tally_u16::<2>(&mut self.narrow, row),
                (_, 3) => tally_u16::<3>(&mut self.narrow, row),
                (_, 4) => tally_u16::<4>(&mut self.narrow, row),
                _ => {
                    for pixel in row.chunks_exact(px) {
                        for (b, v) in pixel.chunks_exact(2).enumerate() {
                            self.narrow[b][usize::from(u16::from_le_bytes([v[0], v[1]]))] += 1;
                        }
                    }
                }
            }
        }
    }

    /// [`Self::tally`] of a strip holding its bands one after the other
    /// (`rows` rows of each).
    fn tally_planes(&mut self, strip: &[u8], width: usize, x0: usize, cols: usize, rows: usize) {
        self.make_room((cols * rows) as u64);
        let size = self.total.size;
        for (b, table) in self.narrow.iter_mut().enumerate() {
            for y in 0..rows {
                let row = &band_row(strip, rows, width, size, b, y)[x0 * size..][..cols * size];
                if size == 1 {
                    tally_bytes(std::slice::from_mut(table), row);
                } else {
                    tally_u16::<1>(std::slice::from_mut(table), row);
                }
            }
        }
    }
}

fn tally_bytes(tables: &mut [Vec<u32>], row: &[u8]) {
    let bands = tables.len();
    for pixel in row.chunks_exact(bands) {
        for (table, v) in tables.iter_mut().zip(pixel) {
            table[usize::from(*v)] += 1;
        }
    }
}

/// 16-bit samples of `B` bands: the tables as fixed-size arrays, so that
/// no index is checked.
fn tally_u16<const B: usize>(tables: &mut [Vec<u32>], row: &[u8]) {
    let mut fixed: Vec<&mut [u32; 1 << 16]> = tables
        .iter_mut()
        .map(|t| {
            <&mut [u32; 1 << 16]>::try_from(t.as_mut_slice()).expect("a table per 16-bit value")
        })
        .collect();
    let Ok(fixed) = <&mut [&mut [u32; 1 << 16]; B]>::try_from(fixed.as_mut_slice()) else {
        unreachable!("B tables");
    };
    for pixel in row.chunks_exact(2 * B) {
        for b in 0..B {
            let v = u16::from_le_bytes([pixel[2 * b], pixel[2 * b + 1]]);
            fixed[b][usize::from(v)] += 1;
        }
    }
}

/// What the writer will do for one source, decided before any pixel is read.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    width: usize,
    height: usize,
    bands: usize,
    /// Bytes per sample.
    size: usize,
    kind: Kind,
    gdal_type: gdal_sys::GDALDataType::Type,
    tile: usize,
    /// (width, height) of each level, full resolution first.
    levels: Vec<(usize, usize)>,
    predict: Predict,
    compression: Compression,
    level: Option<u8>,
    resampling: Resampling,
    nodata: Option<f64>,
    threads: usize,
    /// Source block height, to know when GDAL's cache may be dropped.
    block_height: usize,
    /// Whether to count every value (see [`ValueCounts`]).
    pub(crate) count: bool,
}

impl Plan {
    fn pixel(&self) -> usize {
        self.bands * self.size
    }
}

/// The overview sizes GDAL's COG driver makes: halved (rounding down) until
/// the level fits in one tile.
fn level_sizes(width: usize, height: usize, tile: usize) -> Vec<(usize, usize)> {
    let mut levels = vec![(width, height)];
    let (mut w, mut h) = (width, height);
    while w > tile || h > tile {
        w = (w / 2).max(1);
        h = (h / 2).max(1);
        levels.push((w, h));
    }
    levels
}

/// The writer's plan for `ds`, or why it leaves the source to GDAL.
pub(crate) fn plan(ds: &Dataset, options: &CogOptions) -> std::result::Result<Plan, String> {
    if cfg!(target_endian = "big") {
        return Err("the native writer is for little-endian machines".to_string());
    }
    if options.target_crs.is_some() || !options.warp_extra.is_empty() || options.web_optimized {
        return Err("reprojection goes through GDAL's warper".to_string());
    }
    if codec::tiff_code(options.compression).is_none() {
        return Err(format!(
            "{} compression is written by GDAL",
            options.compression
        ));
    }
    if !matches!(
        options.overview_resampling,
        Resampling::Nearest | Resampling::Average
    ) {
        return Err(format!(
            "{} overviews are computed by GDAL",
            options.overview_resampling
        ));
    }
    let bands = ds.raster_count();
    if bands == 0 {
        return Err("the dataset has no bands".to_string());
    }
    let first = ds.rasterband(1).map_err(|e| e.to_string())?;
    // SAFETY: the band handles are valid while `ds` is borrowed.
    let (gdal_type, mask_flags, overviews) = unsafe {
        let b = first.c_rasterband();
        (
            gdal_sys::GDALGetRasterDataType(b),
            gdal_sys::GDALGetMaskFlags(b),
            gdal_sys::GDALGetOverviewCount(b),
        )
    };
    use gdal_sys::GDALDataType as T;
    let (size, kind) = match gdal_type {
        T::GDT_Byte => (1, Kind::Unsigned),
        T::GDT_UInt16 => (2, Kind::Unsigned),
        T::GDT_Int16 => (2, Kind::Signed),
        T::GDT_UInt32 => (4, Kind::Unsigned),
        T::GDT_Int32 => (4, Kind::Signed),
        T::GDT_Float32 => (4, Kind::Float),
        T::GDT_Float64 => (8, Kind::Float),
        T::GDT_UInt64 => (8, Kind::Unsigned),
        T::GDT_Int64 => (8, Kind::Signed),
        // SAFETY: GDALGetDataTypeName returns a static string.
        other => {
            let name = unsafe { std::ffi::CStr::from_ptr(gdal_sys::GDALGetDataTypeName(other)) };
            return Err(format!(
                "{} samples are written by GDAL",
                name.to_string_lossy()
            ));
        }
    };
    let mut palette = false;
    let mut alpha = false;
    let mut signed_byte = false;
    for i in 1..=bands {
        let band = ds.rasterband(i).map_err(|e| e.to_string())?;
        // SAFETY: as above.
        let (t, interp) = unsafe {
            (
                gdal_sys::GDALGetRasterDataType(band.c_rasterband()),
                gdal_sys::GDALGetRasterColorInterpretation(band.c_rasterband()),
            )
        };
        if t != gdal_type {
            return Err("the bands have different data types".to_string());
        }
        if band
            .metadata_item("PIXELTYPE", "IMAGE_STRUCTURE")
            .is_some_and(|v| v == "SIGNEDBYTE")
        {
            // GDAL 3.6's signed bytes: Byte samples, SampleFormat 2.
            signed_byte = true;
        }
        palette |= interp == gdal_sys::GDALColorInterp::GCI_PaletteIndex;
        alpha |= interp == gdal_sys::GDALColorInterp::GCI_AlphaBand;
    }
    if mask_flags & GMF_PER_DATASET != 0 && mask_flags & (GMF_ALPHA | GMF_NODATA) == 0 {
        return Err("the source has a mask band (written by GDAL as an internal mask)".to_string());
    }
    if overviews > 0 {
        return Err("the source has overviews of its own, which GDAL's driver copies".to_string());
    }
    if options.overview_resampling == Resampling::Average && (palette || alpha) {
        return Err(format!(
            "average overviews of {} are computed by GDAL",
            if palette {
                "a palette"
            } else {
                "an alpha band"
            }
        ));
    }
    let kind = if signed_byte { Kind::Signed } else { kind };
    let predict = match (options.compression, options.predictor, kind) {
        (Compression::None, _, _) | (_, Predictor::None, _) => Predict::None,
        (_, Predictor::Auto, Kind::Float) | (_, Predictor::FloatingPoint, Kind::Float) => {
            Predict::Float
        }
        (_, Predictor::FloatingPoint, _) => {
            return Err("the floating-point predictor on integer samples".to_string())
        }
        _ => Predict::Horizontal,
    };
    let (width, height) = ds.raster_size();
    let tile = options.blocksize as usize;
    let levels = level_sizes(width, height, tile);
    if options.overview_resampling == Resampling::Average
        && levels
            .windows(2)
            .any(|l| l[0].0 != 2 * l[1].0 || l[0].1 != 2 * l[1].1)
    {
        // GDAL averages windows of 2 to 3 pixels, weighted, where a level
        // is not exactly half the one above; the writer averages 2 x 2.
        return Err(format!(
            "average overviews of an odd-sized level ({}) are computed by GDAL",
            levels
                .iter()
                .map(|(w, h)| format!("{w} x {h}"))
                .collect::<Vec<_>>()
                .join(", then ")
        ));
    }
    let nodata = options.nodata.or_else(|| first.no_data_value());
    let block_height = first.block_size().1.max(1);
    Ok(Plan {
        width,
        height,
        bands,
        size,
        kind,
        gdal_type,
        tile,
        levels,
        predict,
        compression: options.compression,
        level: options.level,
        resampling: options.overview_resampling,
        nodata,
        threads: options
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1),
        block_height,
        count: false,
    })
}

impl Plan {
    /// Whether [`ValueCounts`] can be kept for this source's samples.
    pub(crate) fn countable(&self) -> bool {
        self.size <= 2 && self.kind != Kind::Float
    }
}

/// The tags GDAL's GeoTIFF driver writes for `ds` (with `options.nodata`
/// assigned as gdal_translate's `-a_nodata` does): the dataset made a VRT,
/// shrunk to one pixel and written as a GeoTIFF in memory.
fn gdal_tags(ds: &Dataset, src: &Path, options: &CogOptions) -> Result<Vec<tiff::Tag>> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let id = format!(
        "/vsimem/stacforge-native-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let vrt = format!("{id}.vrt");
    let tif = format!("{id}.tif");
    let gdal_err = |action: &'static str, e: gdal::errors::GdalError| Error::Gdal {
        path: src.to_path_buf(),
        action,
        message: e.to_string(),
    };
    let mut args = vec!["-of".to_string(), "VRT".to_string()];
    if let Some(nodata) = options.nodata {
        args.push("-a_nodata".to_string());
        args.push(if nodata.is_nan() {
            "nan".to_string()
        } else {
            nodata.to_string()
        });
    }
    gdal_app::translate(ds, Path::new(&vrt), &args)?;
    let xml = gdal::vsi::get_vsi_mem_file_bytes_owned(&vrt)
        .map_err(|e| gdal_err("describing the dataset as a VRT", e))?;
    let xml = String::from_utf8_lossy(&xml);
    let (w, h) = ds.raster_size();
    let one = xml.replacen(
        &format!("rasterXSize=\"{w}\" rasterYSize=\"{h}\""),
        "rasterXSize=\"1\" rasterYSize=\"1\"",
        1,
    );
    gdal::vsi::create_mem_file(&vrt, one.into_bytes())
        .map_err(|e| gdal_err("describing the dataset as a VRT", e))?;
    let made = (|| {
        let small = Dataset::open(&vrt)?;
        let driver = gdal::DriverManager::get_driver_by_name("GTiff")?;
        let options: gdal::raster::RasterCreationOptions =
            ["INTERLEAVE=PIXEL"].into_iter().collect();
        small.create_copy(&driver, &tif, &options)?;
        gdal::vsi::get_vsi_mem_file_bytes_owned(&tif)
    })();
    let _ = gdal::vsi::unlink_mem_file(&vrt);
    let bytes = made.map_err(|e| gdal_err("making GDAL's GeoTIFF tags for the dataset", e))?;
    tiff::template_tags(&bytes).map_err(|reason| Error::Tiff {
        path: src.to_path_buf(),
        reason,
    })
}

/// A tile row of one level, shared by the workers that cut it into tiles.
#[derive(Debug)]
struct Job {
    strip: Arc<Vec<u8>>,
    /// Whether `strip` holds its bands one after the other (`rows` rows of
    /// each), as a band-interleaved source stores them; else its pixels.
    planar: bool,
    level: usize,
    tile_row: usize,
    tile_col: usize,
    rows: usize,
}

/// The rows of a level not yet handed to the workers.
#[derive(Debug)]
struct Pending {
    buf: Vec<u8>,
    rows: usize,
    tile_row: usize,
}

/// One pixel of fill (nodata, else zero) for the parts of edge tiles
/// outside the image, as GDAL fills them.
fn fill_pixel(plan: &Plan) -> Vec<u8> {
    let sample: Vec<u8> = match plan.nodata {
        None => vec![0; plan.size],
        Some(v) => encode_sample(v, plan.kind, plan.size),
    };
    sample.repeat(plan.bands)
}

fn encode_sample(v: f64, kind: Kind, size: usize) -> Vec<u8> {
    match (kind, size) {
        (Kind::Float, 4) => (v as f32).to_le_bytes().to_vec(),
        (Kind::Float, _) => v.to_le_bytes().to_vec(),
        (Kind::Signed, _) => (v as i64).to_le_bytes()[..size].to_vec(),
        (Kind::Unsigned, _) => (v as u64).to_le_bytes()[..size].to_vec(),
    }
}

fn decode_sample(b: &[u8], kind: Kind) -> f64 {
    let mut raw = [0u8; 8];
    raw[..b.len()].copy_from_slice(b);
    match (kind, b.len()) {
        (Kind::Float, 4) => f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        (Kind::Float, _) => f64::from_le_bytes(raw),
        (Kind::Unsigned, _) => u64::from_le_bytes(raw) as f64,
        (Kind::Signed, n) => {
            let shift = 64 - 8 * n as u32;
            ((i64::from_le_bytes(raw) << shift) >> shift) as f64
        }
    }
}

/// The tile at (`tile_row`, `tile_col`) of a strip of `rows` rows of a level
/// `width` wide, padded with `fill`, predicted and encoded, in the worker's
/// `buffers` (reused from tile to tile).
fn encode_tile(
    plan: &Plan,
    job: &Job,
    width: usize,
    fill: &[u8],
    encoder: &mut codec::Encoder,
    buffers: &mut TileBuffers,
) -> std::io::Result<Vec<u8>> {
    let px = plan.pixel();
    let t = plan.tile;
    let x0 = job.tile_col * t;
    let cols = t.min(width - x0);
    let row_bytes = t * px;
    let TileBuffers {
        raw,
        packed,
        scratch,
    } = buffers;
    raw.resize(t * row_bytes, 0);
    let size = plan.size;
    for (y, dst) in raw.chunks_exact_mut(row_bytes).enumerate() {
        let start = (y * width + x0) * px;
        let plane = |b: usize| {
            &band_row(&job.strip, job.rows, width, size, b, y)[x0 * size..][..cols * size]
        };
        if y < job.rows && cols == t {
            if job.planar {
                if codec::interleave_predicted(dst, plane, plan.predict, plan.bands, size) {
                    continue;
                }
                source::interleave_samples(dst, plan.bands, size, plane);
            } else {
                let src = &job.strip[start..start + row_bytes];
                if codec::copy_predicted(dst, src, plan.predict, plan.bands, size) {
                    continue;
                }
                dst.copy_from_slice(src);
            }
        } else {
            // An edge: padded with the fill pixel, then predicted in place.
            let real = if y < job.rows { cols } else { 0 };
            if real > 0 && job.planar {
                source::interleave_samples(&mut dst[..cols * px], plan.bands, size, plane);
            } else if real > 0 {
                dst[..cols * px].copy_from_slice(&job.strip[start..start + cols * px]);
            }
            for pixel in dst[real * px..].chunks_exact_mut(px) {
                pixel.copy_from_slice(fill);
            }
        }
        codec::predict_row(dst, plan.predict, plan.bands, size, scratch);
    }
    encoder.encode(raw, packed)
}

/// A worker's buffers for [`encode_tile`].
#[derive(Default)]
struct TileBuffers {
    raw: Vec<u8>,
    packed: Vec<u8>,
    scratch: Vec<u8>,
}

/// Halves `rows` rows of a level (starting at an even row; band after band
/// when `planar`) into the rows of the next level they cover, appended to
/// `out` pixel-interleaved; returns how many.
fn downsample(
    plan: &Plan,
    src: &[u8],
    planar: bool,
    from: (usize, usize),
    first_row: usize,
    rows: usize,
    out: &mut Vec<u8>,
) -> usize {
    let (w0, h0) = from;
    let next = (w0 / 2).max(1);
    let next_h = (h0 / 2).max(1);
    let px = plan.pixel();
    let j0 = first_row / 2;
    let j1 = next_h.min((first_row + rows).div_ceil(2));
    let local = |y: usize| (y - first_row).min(rows - 1);
    // GDAL's nearest neighbour: source index (int)(0.5 + i * ratio), the
    // ratio being the sizes' (2 and a little when a size is odd), so always
    // 2i or 2i + 1: inside this strip.
    let nearest = |i: usize, from: usize, to: usize| -> usize {
        let ratio = from as f64 / to as f64;
        ((0.5 + i as f64 * ratio) as usize).min(from - 1)
    };
    // Byte offsets of the nearest columns: of pixels, or of samples in a
    // band's row.
    let step = if planar { plan.size } else { px };
    let columns: Vec<usize> = match plan.resampling {
        Resampling::Average => Vec::new(),
        _ => (0..next).map(|i| nearest(i, w0, next) * step).collect(),
    };
    // Columns 0, 2, 4...: each band's row read with a stride of two.
    let every_other = planar && columns.iter().enumerate().all(|(i, &c)| c == 2 * i * step);
    let size = plan.size;
    // Sample `b` of pixel `c` of local row `r`.
    let sample = |r: usize, c: usize, b: usize| {
        if planar {
            &band_row(src, rows, w0, size, b, r)[c * size..][..size]
        } else {
            &src[(r * w0 + c) * px + b * size..][..size]
        }
    };
    for j in j0..j1 {
        if plan.resampling != Resampling::Average {
            let r = local(nearest(j, h0, next_h));
            let at = out.len();
            out.resize(at + columns.len() * px, 0);
            let dst = &mut out[at..];
            if every_other && halve_planes(dst, src, plan, rows, r, w0) {
                continue;
            }
            if planar {
                for b in 0..plan.bands {
                    let row = band_row(src, rows, w0, size, b, r);
                    match size {
                        1 => gather_band::<1>(dst, px, b, row, &columns),
                        2 => gather_band::<2>(dst, px, 2 * b, row, &columns),
                        4 => gather_band::<4>(dst, px, 4 * b, row, &columns),
                        _ => gather_band::<8>(dst, px, 8 * b, row, &columns),
                    }
                }
                continue;
            }
            let row = &src[r * w0 * px..(r + 1) * w0 * px];
            match px {
                1 => gather::<1>(dst, row, &columns),
                2 => gather::<2>(dst, row, &columns),
                3 => gather::<3>(dst, row, &columns),
                4 => gather::<4>(dst, row, &columns),
                6 => gather::<6>(dst, row, &columns),
                8 => gather::<8>(dst, row, &columns),
                _ => {
                    for (d, &c) in dst.chunks_exact_mut(px).zip(&columns) {
                        d.copy_from_slice(&row[c..c + px]);
                    }
                }
            }
            continue;
        }
        let r0 = local(2 * j);
        let r1 = local((2 * j + 1).min(h0 - 1));
        match plan.resampling {
            Resampling::Average => {
                for i in 0..next {
                    let c0 = 2 * i;
                    let c1 = (2 * i + 1).min(w0 - 1);
                    for b in 0..plan.bands {
                        let at = |r: usize, c: usize| decode_sample(sample(r, c, b), plan.kind);
                        let mut sum = 0.0;
                        let mut n = 0u32;
                        for v in [at(r0, c0), at(r0, c1), at(r1, c0), at(r1, c1)] {
                            let missing = v.is_nan() || plan.nodata == Some(v);
                            if !missing {
                                sum += v;
                                n += 1;
                            }
                        }
                        let value = if n == 0 {
                            plan.nodata.unwrap_or(f64::NAN)
                        } else if plan.kind == Kind::Float {
                            sum / f64::from(n)
                        } else {
                            (sum / f64::from(n) + 0.5).floor()
                        };
                        out.extend_from_slice(&encode_sample(value, plan.kind, plan.size));
                    }
                }
            }
            _ => unreachable!("nearest is handled above"),
        }
    }
    j1.saturating_sub(j0)
}

/// The pixels of `row` at byte offsets `columns` into `dst`, `P` bytes
/// each: fixed-size copies, not a call to `memcpy` per pixel.
fn gather<const P: usize>(dst: &mut [u8], row: &[u8], columns: &[usize]) {
    for (d, &c) in dst.chunks_exact_mut(P).zip(columns) {
        let pixel: &[u8; P] = row[c..c + P].try_into().expect("P bytes");
        d.copy_from_slice(pixel);
    }
}

/// Every other sample of row `r` of each band of the planar strip `src`
/// (`rows` rows of `w0` samples per band), interleaved into the pixels
/// `dst`; `false` when the kernel does not take these samples.
fn halve_planes(dst: &mut [u8], src: &[u8], plan: &Plan, rows: usize, r: usize, w0: usize) -> bool {
    struct EveryOther;
    impl<T: codec::Sample> codec::Kernel<T> for EveryOther {
        fn run<const B: usize>(self, out: &mut [T], planes: [&[T]; B]) {
            let n = out.len() / B;
            if n == 0 {
                return;
            }
            let planes = planes.map(|p| &p[..2 * n - 1]);
            let out = &mut out[..n * B];
            for i in 0..n {
                for b in 0..B {
                    out[i * B + b] = planes[b][2 * i];
                }
            }
        }
    }
    let size = plan.size;
    let plane = |b: usize| band_row(src, rows, w0, size, b, r);
    match size {
        1 => codec::by_bands::<u8>(dst, plane, plan.bands, EveryOther),
        2 => codec::by_bands::<u16>(dst, plane, plan.bands, EveryOther),
        4 => codec::by_bands::<u32>(dst, plane, plan.bands, EveryOther),
        8 => codec::by_bands::<u64>(dst, plane, plan.bands, EveryOther),
        _ => false,
    }
}

/// Row `y` of band `b` of a strip holding its bands one after the other
/// (`rows` rows of `width` samples of `size` bytes each).
fn band_row(strip: &[u8], rows: usize, width: usize, size: usize, b: usize, y: usize) -> &[u8] {
    let row = width * size;
    &strip[(b * rows + y) * row..][..row]
}

/// Samples of `S` bytes of one band's `row` at byte offsets `columns` into
/// byte `offset` of each pixel (`px` bytes) of `dst`.
fn gather_band<const S: usize>(
    dst: &mut [u8],
    px: usize,
    offset: usize,
    row: &[u8],
    columns: &[usize],
) {
    for (d, &c) in dst.chunks_exact_mut(px).zip(columns) {
        let v: &[u8; S] = row[c..c + S].try_into().expect("S bytes");
        d[offset..offset + S].copy_from_slice(v);
    }
}

/// Reads `rows` rows from `y0` of every band, pixel-interleaved, into `buf`.
fn read_rows(
    ds: &Dataset,
    src: &Path,
    plan: &Plan,
    y0: usize,
    rows: usize,
    buf: &mut [u8],
) -> Result<()> {
    let px = plan.pixel() as i64;
    // SAFETY: `buf` holds exactly width * rows pixels of `bands` samples of
    // the requested type; the spacing arguments describe that layout; a
    // null band map means every band in order.
    let err = unsafe {
        gdal_sys::GDALDatasetRasterIOEx(
            ds.c_dataset(),
            gdal_sys::GDALRWFlag::GF_Read,
            0,
            y0 as i32,
            plan.width as i32,
            rows as i32,
            buf.as_mut_ptr().cast(),
            plan.width as i32,
            rows as i32,
            plan.gdal_type,
            plan.bands as i32,
            std::ptr::null_mut(),
            px,
            px * plan.width as i64,
            plan.size as i64,
            std::ptr::null_mut(),
        )
    };
    if err != gdal_sys::CPLErr::CE_None {
        return Err(Error::Gdal {
            path: src.to_path_buf(),
            action: "reading pixels",
            message: gdal_app::last_error(),
        });
    }
    Ok(())
}

/// The COG of one source, every tile compressed, yet to be written
/// ([`Encoded::write`]): the images (tags and tiles) of every level.
#[derive(Debug)]
pub(crate) struct Encoded {
    images: Vec<tiff::Image>,
    /// The value counts, when the plan asked for them.
    pub(crate) counts: Option<ValueCounts>,
}

impl Encoded {
    /// Writes the COG at `dst` in one sequential pass.
    pub(crate) fn write(&self, dst: &Path) -> Result<()> {
        let file = std::fs::File::create(dst).map_err(|source| Error::Io {
            path: dst.to_path_buf(),
            source,
        })?;
        // Small: tiles larger than the buffer go straight to the file, uncopied.
        let mut out = std::io::BufWriter::with_capacity(64 << 10, file);
        tiff::write(&mut out, &self.images)
            .and_then(|_| std::io::Write::flush(&mut out))
            .map_err(|source| Error::Io {
                path: dst.to_path_buf(),
                source,
            })
    }
}

/// Reads `ds` (the file `src`) and compresses every tile of its COG
/// following `plan`; `dst` only names the output in errors.
pub(crate) fn encode(
    ds: &Dataset,
    src: &Path,
    dst: &Path,
    plan: &Plan,
    options: &CogOptions,
) -> Result<Encoded> {
    let template = gdal_tags(ds, src, options)?;
    let tiles: Vec<(usize, usize)> = plan
        .levels
        .iter()
        .map(|&(w, h)| (w.div_ceil(plan.tile), h.div_ceil(plan.tile)))
        .collect();
    let results: Vec<Mutex<Vec<Vec<u8>>>> = tiles
        .iter()
        .map(|&(tx, ty)| Mutex::new(vec![Vec::new(); tx * ty]))
        .collect();
    let fill = fill_pixel(plan);
    let failure: Mutex<Option<std::io::Error>> = Mutex::new(None);
    let (send, recv) = crossbeam_channel::bounded::<Job>(4 * plan.threads + 8);

    let pixels = (plan.width * plan.height) as u64;
    let new_counts = || {
        (plan.count && plan.countable())
            .then(|| ValueCounts::new(plan.kind == Kind::Signed, plan.size, plan.bands, pixels))
    };
    let counted = std::thread::scope(|scope| -> Result<Option<ValueCounts>> {
        let mut workers = Vec::with_capacity(plan.threads);
        for _ in 0..plan.threads {
            let recv = recv.clone();
            let (results, tiles, fill, failure) = (&results, &tiles, &fill, &failure);
            let mut counts = new_counts().map(Tally::new);
            workers.push(scope.spawn(move || {
                let mut encoder = match codec::Encoder::new(plan.compression, plan.level) {
                    Ok(e) => e,
                    Err(e) => {
                        *failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                        return None;
                    }
                };
                let mut buffers = TileBuffers::default();
                for job in recv {
                    let width = plan.levels[job.level].0;
                    if let (0, Some(counts)) = (job.level, counts.as_mut()) {
                        let x0 = job.tile_col * plan.tile;
                        let cols = plan.tile.min(width - x0);
                        if job.planar {
                            counts.tally_planes(&job.strip, width, x0, cols, job.rows);
                        } else {
                            counts.tally(&job.strip, width, x0, cols, job.rows);
                        }
                    }
                    stacforge_core::fs::panic_point("compress");
                    match encode_tile(plan, &job, width, fill, &mut encoder, &mut buffers) {
                        Ok(bytes) => {
                            let at = job.tile_row * tiles[job.level].0 + job.tile_col;
                            results[job.level].lock().unwrap_or_else(|p| p.into_inner())[at] =
                                bytes;
                        }
                        Err(e) => {
                            *failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                        }
                    }
                }
                counts.map(Tally::finish)
            }));
        }
        drop(recv);
        let producer = (|| -> Result<()> {
            let px = plan.pixel();
            let t = plan.tile;
            let mut pending: Vec<Pending> = plan
                .levels
                .iter()
                .map(|&(w, _)| Pending {
                    buf: Vec::with_capacity(w * t * px),
                    rows: 0,
                    tile_row: 0,
                })
                .collect();
            let flush_cache = t.is_multiple_of(plan.block_height) || plan.block_height <= 16;
            // Uncompressed strips are read as stored, not through GDAL.
            let mut raw = source::RawSource::open(ds, src, plan);
            let planar = raw.as_ref().is_some_and(|r| r.planar());
            // Strips the workers are done with, per level, to be refilled:
            // fresh memory would be faulted in and zeroed page by page.
            let mut spare: Vec<Vec<Arc<Vec<u8>>>> = vec![Vec::new(); plan.levels.len()];
            for tile_row in 0..tiles[0].1 {
                let y0 = tile_row * t;
                let rows = t.min(plan.height - y0);
                let mut buf = reuse(&mut spare[0]);
                buf.resize(plan.width * rows * px, 0);
                match raw.as_mut() {
                    Some(raw) => raw.read(y0, rows, &mut buf).map_err(|e| Error::Io {
                        path: src.to_path_buf(),
                        source: e,
                    })?,
                    None => {
                        read_rows(ds, src, plan, y0, rows, &mut buf)?;
                        if flush_cache {
                            // SAFETY: drops this read-only dataset's cached blocks.
                            unsafe { gdal_sys::GDALFlushCache(ds.c_dataset()) };
                        }
                    }
                }
                pending[0] = Pending {
                    buf,
                    rows,
                    tile_row,
                };
                // Hand this row on, then every level it completes.
                let mut level = 0;
                loop {
                    let (w, h) = plan.levels[level];
                    let p = &mut pending[level];
                    let done = p.tile_row * t + p.rows;
                    if p.rows < t && done < h {
                        break;
                    }
                    // (Level 0's next strip is the next read.)
                    let mut fresh = Vec::new();
                    if level > 0 {
                        fresh = reuse(&mut spare[level]);
                        fresh.clear();
                        fresh.reserve(w * t * px);
                    }
                    let strip = Arc::new(std::mem::replace(&mut p.buf, fresh));
                    let (rows, row) = (p.rows, p.tile_row);
                    // Level 0 is as the source stores it; overviews, pixels.
                    let planar = planar && level == 0;
                    p.rows = 0;
                    p.tile_row += 1;
                    for tile_col in 0..tiles[level].0 {
                        send.send(Job {
                            strip: Arc::clone(&strip),
                            planar,
                            level,
                            tile_row: row,
                            tile_col,
                            rows,
                        })
                        .map_err(|_| Error::Io {
                            path: dst.to_path_buf(),
                            source: std::io::Error::other("the compression threads stopped"),
                        })?;
                    }
                    if level + 1 == plan.levels.len() {
                        spare[level].push(strip);
                        break;
                    }
                    let next = &mut pending[level + 1];
                    next.rows +=
                        downsample(plan, &strip, planar, (w, h), row * t, rows, &mut next.buf);
                    spare[level].push(strip);
                    level += 1;
                }
            }
            Ok(())
        })();
        drop(send);
        let mut total = new_counts();
        let mut panicked = None;
        for worker in workers {
            match worker.join() {
                Ok(counts) => {
                    if let (Some(total), Some(counts)) = (total.as_mut(), counts.as_ref()) {
                        total.add(counts);
                    }
                }
                // A worker that died left its tiles empty: never a file.
                Err(payload) => {
                    let message = payload
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "no message".to_string());
                    panicked.get_or_insert(message);
                }
            }
        }
        if let Some(message) = panicked {
            return Err(Error::Io {
                path: dst.to_path_buf(),
                source: std::io::Error::other(format!(
                    "a compression thread failed ({message}); nothing was written"
                )),
            });
        }
        producer.map(|()| total)
    })?;
    if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(Error::Io {
            path: dst.to_path_buf(),
            source: e,
        });
    }

    Ok(Encoded {
        images: assemble(plan, &template, results),
        counts: counted,
    })
}

/// A strip no job holds any more (its old pixels still in it), or a new,
/// empty one.
fn reuse(spare: &mut Vec<Arc<Vec<u8>>>) -> Vec<u8> {
    while let Some(i) = spare.iter().position(|s| Arc::strong_count(s) == 1) {
        if let Ok(strip) = Arc::try_unwrap(spare.swap_remove(i)) {
            return strip;
        }
    }
    Vec::new()
}

/// Every level's tags and tiles.
fn assemble(
    plan: &Plan,
    template: &[tiff::Tag],
    results: Vec<Mutex<Vec<Vec<u8>>>>,
) -> Vec<tiff::Image> {
    let compression = codec::tiff_code(plan.compression).unwrap_or(1);
    results
        .into_iter()
        .enumerate()
        .map(|(i, tiles_of_level)| {
            let (w, h) = plan.levels[i];
            let mut tags = vec![
                tiff::Tag::size(tiff::IMAGE_WIDTH, w as u64),
                tiff::Tag::size(tiff::IMAGE_LENGTH, h as u64),
                tiff::Tag::short(tiff::COMPRESSION, &[compression]),
                tiff::Tag::short(tiff::SAMPLES_PER_PIXEL, &[plan.bands as u16]),
                tiff::Tag::short(tiff::PLANAR_CONFIG, &[1]),
                tiff::Tag::size(tiff::TILE_WIDTH, plan.tile as u64),
                tiff::Tag::size(tiff::TILE_LENGTH, plan.tile as u64),
            ];
            // GDAL writes the tag (1 when none) whenever it compresses.
            if plan.compression != Compression::None {
                tags.push(tiff::Tag::short(
                    tiff::PREDICTOR,
                    &[plan.predict.tiff_code()],
                ));
            }
            if i == 0 {
                tags.extend(template.iter().cloned());
            } else {
                tags.push(tiff::Tag::long(tiff::NEW_SUBFILE_TYPE, 1));
                tags.extend(
                    template
                        .iter()
                        .filter(|t| tiff::OVERVIEW_COPIES.contains(&t.code))
                        .cloned(),
                );
            }
            tiff::Image {
                tags,
                tiles: tiles_of_level
                    .into_inner()
                    .unwrap_or_else(|p| p.into_inner()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overview_sizes_follow_gdal() {
        // Measured with GDAL 3.6's COG driver (BLOCKSIZE=512).
        assert_eq!(level_sizes(791, 718, 512), [(791, 718), (395, 359)]);
        assert_eq!(
            level_sizes(2658, 2667, 512),
            [(2658, 2667), (1329, 1333), (664, 666), (332, 333)]
        );
        assert_eq!(level_sizes(1025, 1023, 512), [(1025, 1023), (512, 511)]);
        assert_eq!(level_sizes(500, 400, 512), [(500, 400)]);
    }

    /// A `width` x `height` GeoTIFF of `bands` bands of u16, made with
    /// `options`.
    fn striped(path: &Path, (width, height, bands): (usize, usize, usize), options: &[&str]) {
        crate::init();
        let driver = gdal::DriverManager::get_driver_by_name("GTiff").unwrap();
        let options: gdal::raster::RasterCreationOptions = options.iter().copied().collect();
        let mut ds = driver
            .create_with_band_type_with_options::<u16, _>(path, width, height, bands, &options)
            .unwrap();
        ds.set_geo_transform(&[500000.0, 30.0, 0.0, 4500000.0, 0.0, -30.0])
            .unwrap();
        for b in 1..=bands {
            let data: Vec<u16> = (0..width * height)
                .map(|i| ((i % width) * 7 + (i / width) * 13 + b * 1001) as u16)
                .collect();
            let mut buf = gdal::raster::Buffer::new((width, height), data);
            ds.rasterband(b)
                .unwrap()
                .write((0, 0), (width, height), &mut buf)
                .unwrap();
        }
    }

    #[test]
    fn uncompressed_strips_are_read_as_gdal_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        let options = CogOptions::default();
        for (name, layout) in [
            ("band.tif", &["INTERLEAVE=BAND"][..]),
            // Tile rows start and end inside strips.
            ("band-rows7.tif", &["INTERLEAVE=BAND", "BLOCKYSIZE=7"]),
            ("pixel-rows300.tif", &["INTERLEAVE=PIXEL", "BLOCKYSIZE=300"]),
            ("one-strip.tif", &["INTERLEAVE=PIXEL", "BLOCKYSIZE=5000"]),
            ("big.tif", &["INTERLEAVE=BAND", "BIGTIFF=YES"]),
        ] {
            let path = dir.path().join(name);
            striped(&path, (1030, 1100, 3), layout);
            let ds = Dataset::open(&path).unwrap();
            let plan = plan(&ds, &options).unwrap();
            let mut raw = source::RawSource::open(&ds, &path, &plan)
                .unwrap_or_else(|| panic!("{name} is read through GDAL"));
            for (y0, rows) in [(0, 512), (512, 512), (1024, 76), (3, 1)] {
                let len = plan.width * rows * plan.pixel();
                let (mut ours, mut gdal) = (vec![0; len], vec![1; len]);
                raw.read(y0, rows, &mut ours).unwrap();
                if raw.planar() {
                    // Band after band: interleaved here to compare.
                    let planes = std::mem::replace(&mut ours, vec![0; len]);
                    let pixels_row = plan.width * plan.pixel();
                    for (y, out) in ours.chunks_exact_mut(pixels_row).enumerate() {
                        let plane = |b: usize| band_row(&planes, rows, plan.width, plan.size, b, y);
                        source::interleave_samples(out, plan.bands, plan.size, plane);
                    }
                }
                read_rows(&ds, &path, &plan, y0, rows, &mut gdal).unwrap();
                assert!(ours == gdal, "{name}: rows {y0}..{}", y0 + rows);
            }
        }
        // Compressed and tiled sources are GDAL's to read.
        for (name, layout) in [
            ("deflate.tif", &["COMPRESS=DEFLATE"][..]),
            ("tiled.tif", &["TILED=YES"]),
        ] {
            let path = dir.path().join(name);
            striped(&path, (600, 500, 2), layout);
            let ds = Dataset::open(&path).unwrap();
            let plan = plan(&ds, &options).unwrap();
            assert!(
                source::RawSource::open(&ds, &path, &plan).is_none(),
                "{name}"
            );
        }
    }

    #[test]
    fn tallies_spill_into_the_wide_counts() {
        let (width, rows) = (37, 5);
        for (size, bands) in [(1, 3), (2, 1), (2, 3), (2, 6)] {
            let strip: Vec<u8> = (0..width * rows * bands * size)
                .map(|i| (i * 7 % 251) as u8)
                .collect();
            let fresh = || Tally::new(ValueCounts::new(false, size, bands, 0));
            let (mut spilled, mut whole) = (fresh(), fresh());
            spilled.tally(&strip, width, 3, 30, rows);
            spilled.spill();
            spilled.tally(&strip, width, 3, 30, rows);
            whole.tally(&strip, width, 3, 30, rows);
            whole.tally(&strip, width, 3, 30, rows);
            let (a, b) = (spilled.finish(), whole.finish());
            assert_eq!(a, b, "{size} bytes, {bands} bands");
            // The same strip stored band after band counts the same.
            let px = size * bands;
            let mut planes = vec![0; strip.len()];
            for (i, v) in strip.iter().enumerate() {
                let (pixel, band, byte) = (i / px, i % px / size, i % size);
                let (y, x) = (pixel / width, pixel % width);
                planes[((band * rows + y) * width + x) * size + byte] = *v;
            }
            let mut planar = fresh();
            planar.tally_planes(&planes, width, 3, 30, rows);
            planar.tally_planes(&planes, width, 3, 30, rows);
            assert_eq!(planar.finish(), a, "{size} bytes, {bands} bands, planar");
            let counted: u64 = (0..bands)
                .map(|band| a.counts[band].iter().sum::<u64>())
                .sum();
            assert_eq!(counted, (2 * 30 * rows * bands) as u64);
        }
    }

    #[test]
    fn samples_round_trip() {
        for (v, kind, size) in [
            (-3.0, Kind::Signed, 2),
            (65535.0, Kind::Unsigned, 2),
            (-9999.0, Kind::Float, 4),
            (-2.0, Kind::Signed, 1),
        ] {
            assert_eq!(decode_sample(&encode_sample(v, kind, size), kind), v);
        }
    }
}
