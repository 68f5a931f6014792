//! stacforge's own Cloud-Optimized GeoTIFF layout checker, in pure Rust.
//!
//! It reads only the TIFF header and IFDs and checks what makes a GeoTIFF
//! cloud-optimized: the full-resolution image is tiled; large images carry
//! overviews, each smaller than the one before; every IFD comes before any
//! image data; image data is laid out smallest overview first; and, when GDAL's
//! ghost header is present, that it does not declare the file modified.

use crate::{Error, Result};
use serde::Serialize;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Images larger than this (in either dimension) must be tiled and have
/// overviews, as GDAL's and rio-cogeo's validators expect.
const SMALL: u64 = 512;

/// One image (IFD) of the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Level {
    /// Offset of the IFD.
    pub ifd_offset: u64,
    /// Width in pixels.
    pub width: u64,
    /// Height in pixels.
    pub height: u64,
    /// Tile size, or `None` when stripped.
    pub tile: Option<(u64, u64)>,
    /// Whether this is a mask (transparency) image.
    pub mask: bool,
    /// Whether this is a reduced-resolution image (an overview).
    pub overview: bool,
    /// Smallest offset of this image's data blocks.
    pub first_data: Option<u64>,
    /// End of this IFD and the tag values it points to.
    pub ifd_end: u64,
}

/// The result of checking one file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Whether the file is BigTIFF.
    pub bigtiff: bool,
    /// Every image in file order.
    pub levels: Vec<Level>,
    /// Key/value pairs of GDAL's ghost header, when present.
    pub ghost_header: Option<Vec<(String, String)>>,
    /// Bytes before the first image data: what a reader must fetch to know
    /// the whole layout.
    pub header_size: u64,
    /// Set when a block lies past the end of the file (a truncated file;
    /// also among the errors): readers would get errors or zeros.
    pub truncated: Option<String>,
    /// Violations: the file is not a valid COG.
    pub errors: Vec<String>,
    /// Things worth knowing that do not make the file invalid.
    pub warnings: Vec<String>,
    /// The tags of the first image that describe the dataset (size, sample
    /// type, georeferencing, GDAL metadata), for [`crate::header`].
    #[serde(skip)]
    pub tags: Vec<RawTag>,
    /// Whether the file is big-endian (`MM`).
    #[serde(skip)]
    pub big_endian: bool,
}

/// One tag of the first IFD with its values' bytes, in the file's byte order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawTag {
    /// The tag number.
    pub tag: u16,
    /// The TIFF field type.
    pub typ: u16,
    /// How many values.
    pub count: u64,
    /// The values' bytes.
    pub bytes: Vec<u8>,
}

/// Tags kept in [`Report::tags`].
const DESCRIPTIVE: &[u16] = &[
    256, 257, 258, 259, 262, 277, 284, 306, 320, 338, 339, 33550, 33922, 34264, 34735, 34736,
    34737, 42112, 42113,
];

impl Report {
    /// True when there is no error.
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }
}

struct Reader {
    file: File,
    big_endian: bool,
    bigtiff: bool,
    len: u64,
}

impl Reader {
    /// A reader of the file at `path`, taken as little-endian classic TIFF
    /// until its header says otherwise.
    fn open(path: &Path) -> std::io::Result<Reader> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        Ok(Reader {
            file,
            big_endian: false,
            bigtiff: false,
            len,
        })
    }

    /// Reads the TIFF header: sets the byte order and whether the file is
    /// BigTIFF, and returns the offset of the first IFD.
    fn header(&mut self) -> std::result::Result<u64, String> {
        let len = self.len;
        let head = self
            .bytes(0, 8.min(len as usize))
            .map_err(|e| e.to_string())?;
        if head.len() < 8 {
            return Err(format!("only {len} bytes long"));
        }
        self.big_endian = match &head[0..2] {
            b"II" => false,
            b"MM" => true,
            _ => return Err("no TIFF byte-order mark (II or MM)".to_string()),
        };
        self.bigtiff = match self.uint(&head[2..4]) {
            42 => false,
            43 => true,
            v => return Err(format!("TIFF version {v}, expected 42 or 43")),
        };
        if self.bigtiff {
            let b = self.bytes(8, 8).map_err(|e| e.to_string())?;
            Ok(self.uint(&b))
        } else {
            Ok(self.uint(&head[4..8]))
        }
    }

    fn bytes(&mut self, offset: u64, n: usize) -> std::io::Result<Vec<u8>> {
        if offset.saturating_add(n as u64) > self.len {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "needs {n} bytes at offset {offset}, beyond the end of the file ({} bytes)",
                    self.len
                ),
            ));
        }
        self.file.seek(SeekFrom::Start(offset))?;
        let mut buf = vec![0; n];
        self.file.read_exact(&mut buf)?;
        Ok(buf)
    }

    fn uint(&self, b: &[u8]) -> u64 {
        let mut v = 0u64;
        if self.big_endian {
            for &x in b {
                v = (v << 8) | x as u64;
            }
        } else {
            for &x in b.iter().rev() {
                v = (v << 8) | x as u64;
            }
        }
        v
    }
}

/// A tag's type size in bytes.
pub(crate) fn type_size(t: u16) -> Option<usize> {
    Some(match t {
        1 | 2 | 6 | 7 => 1,
        3 | 8 => 2,
        4 | 9 | 11 | 13 => 4,
        5 | 10 | 12 | 16 | 17 | 18 => 8,
        _ => return None,
    })
}

struct Entry {
    tag: u16,
    typ: u16,
    count: u64,
    /// Inline value bytes, or the offset where the values are.
    inline: Option<Vec<u8>>,
    offset: u64,
}

/// Reads an IFD; returns its entries, the next IFD offset and where it ends.
fn read_ifd(r: &mut Reader, offset: u64) -> std::io::Result<(Vec<Entry>, u64, u64)> {
    let (count_size, entry_size, value_size) = if r.bigtiff { (8, 20, 8) } else { (2, 12, 4) };
    let head = r.bytes(offset, count_size)?;
    let n = r.uint(&head);
    if n == 0 || n > 4096 {
        return Err(std::io::Error::other(format!(
            "IFD at offset {offset} declares {n} entries"
        )));
    }
    let raw = r.bytes(offset + count_size as u64, n as usize * entry_size)?;
    let mut end = offset + count_size as u64 + raw.len() as u64 + value_size as u64;
    let mut entries = Vec::with_capacity(n as usize);
    for e in raw.chunks(entry_size) {
        let tag = r.uint(&e[0..2]) as u16;
        let typ = r.uint(&e[2..4]) as u16;
        let count = r.uint(&e[4..4 + value_size]);
        let value = &e[4 + value_size..];
        let total = type_size(typ).map(|s| s as u64 * count).unwrap_or(0);
        if total <= value_size as u64 {
            entries.push(Entry {
                tag,
                typ,
                count,
                inline: Some(value.to_vec()),
                offset: 0,
            });
        } else {
            let at = r.uint(value);
            end = end.max(at + total);
            entries.push(Entry {
                tag,
                typ,
                count,
                inline: None,
                offset: at,
            });
        }
    }
    let tail = r.bytes(offset + count_size as u64 + raw.len() as u64, value_size)?;
    let next = r.uint(&tail);
    Ok((entries, next, end))
}

/// The unsigned integer values of an entry.
fn values(r: &mut Reader, e: &Entry) -> std::io::Result<Vec<u64>> {
    let size = match e.typ {
        1 | 7 => 1,
        3 => 2,
        4 | 13 => 4,
        16 | 18 => 8,
        _ => return Ok(Vec::new()),
    };
    let bytes = match &e.inline {
        Some(b) => b[..size * e.count as usize].to_vec(),
        None => r.bytes(e.offset, size * e.count as usize)?,
    };
    Ok(bytes.chunks(size).map(|c| r.uint(c)).collect())
}

/// Parses GDAL's ghost header, which starts right after the TIFF header.
fn ghost_header(r: &mut Reader) -> Option<Vec<(String, String)>> {
    let start = if r.bigtiff { 16 } else { 8 };
    let head = r
        .bytes(start, 43.min(r.len.saturating_sub(start) as usize))
        .ok()?;
    let text = String::from_utf8_lossy(&head);
    let rest = text.strip_prefix("GDAL_STRUCTURAL_METADATA_SIZE=")?;
    let size: u64 = rest.get(..6)?.trim().parse().ok()?;
    let body_start = start + "GDAL_STRUCTURAL_METADATA_SIZE=000000 bytes\n".len() as u64;
    let body = r.bytes(body_start, size as usize).ok()?;
    Some(
        String::from_utf8_lossy(&body)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect(),
    )
}

const NEW_SUBFILE_TYPE: u16 = 254;
const IMAGE_WIDTH: u16 = 256;
const IMAGE_LENGTH: u16 = 257;
const STRIP_OFFSETS: u16 = 273;
const STRIP_BYTE_COUNTS: u16 = 279;
const TILE_WIDTH: u16 = 322;
const TILE_LENGTH: u16 = 323;
const TILE_OFFSETS: u16 = 324;
const TILE_BYTE_COUNTS: u16 = 325;

/// Checks the layout of the file at `path`.
///
/// An `Err` means the file could not be read as a TIFF at all; a file that
/// is a TIFF but not a COG gives an `Ok` report with errors.
pub fn check(path: &Path) -> Result<Report> {
    let tiff_err = |reason: String| Error::Tiff {
        path: path.to_path_buf(),
        reason,
    };
    let mut r = Reader::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let len = r.len;
    let first_ifd = r.header().map_err(tiff_err)?;
    let ghost = ghost_header(&mut r);

    let mut levels = Vec::new();
    let mut next = first_ifd;
    let mut seen = std::collections::HashSet::new();
    let mut truncated: Option<String> = None;
    let mut tags = Vec::new();
    while next != 0 {
        if !seen.insert(next) || levels.len() > 64 {
            return Err(tiff_err(format!(
                "IFD chain loops or is too long at offset {next}"
            )));
        }
        let (entries, following, ifd_end) =
            read_ifd(&mut r, next).map_err(|e| tiff_err(e.to_string()))?;
        if levels.is_empty() {
            for e in entries.iter().filter(|e| DESCRIPTIVE.contains(&e.tag)) {
                let size = type_size(e.typ).unwrap_or(0) * e.count as usize;
                let bytes = match &e.inline {
                    Some(b) => b[..size.min(b.len())].to_vec(),
                    // Values past the end are the truncation check's to report.
                    None if size <= 1 << 20 => match r.bytes(e.offset, size) {
                        Ok(b) => b,
                        Err(_) => continue,
                    },
                    None => continue,
                };
                tags.push(RawTag {
                    tag: e.tag,
                    typ: e.typ,
                    count: e.count,
                    bytes,
                });
            }
        }
        let mut get = |tag| -> std::io::Result<Vec<u64>> {
            match entries.iter().find(|e| e.tag == tag) {
                Some(e) => values(&mut r, e),
                None => Ok(Vec::new()),
            }
        };
        let read = |v: std::io::Result<Vec<u64>>| v.map_err(|e| tiff_err(e.to_string()));
        let subfile = read(get(NEW_SUBFILE_TYPE))?.first().copied().unwrap_or(0);
        let width = read(get(IMAGE_WIDTH))?.first().copied().unwrap_or(0);
        let height = read(get(IMAGE_LENGTH))?.first().copied().unwrap_or(0);
        let tw = read(get(TILE_WIDTH))?.first().copied();
        let th = read(get(TILE_LENGTH))?.first().copied();
        let (offsets, counts) = if tw.is_some() {
            (read(get(TILE_OFFSETS))?, read(get(TILE_BYTE_COUNTS))?)
        } else {
            (read(get(STRIP_OFFSETS))?, read(get(STRIP_BYTE_COUNTS))?)
        };
        if let Some((o, c)) = offsets
            .iter()
            .zip(&counts)
            .find(|(o, c)| o.saturating_add(**c) > len)
        {
            truncated.get_or_insert(format!(
                "a block of the {width}x{height} {} at offset {o} ({c} bytes) lies past the end of the file ({len} bytes): the file is truncated",
                if subfile & 4 != 0 { "mask" } else if subfile & 1 != 0 { "overview" } else { "image" },
            ));
        }
        let first_data = offsets
            .iter()
            .zip(counts.iter().chain(std::iter::repeat(&1)))
            .filter(|(o, c)| **o > 0 && **c > 0)
            .map(|(o, _)| *o)
            .min();
        levels.push(Level {
            ifd_offset: next,
            width,
            height,
            tile: tw.zip(th),
            mask: subfile & 4 != 0,
            overview: subfile & 1 != 0,
            first_data,
            ifd_end,
        });
        next = following;
    }
    if levels.is_empty() {
        return Err(tiff_err("no image in the file".to_string()));
    }

    let mut errors: Vec<String> = truncated.iter().cloned().collect();
    let mut warnings = Vec::new();
    let main = levels[0].clone();
    let big = main.width > SMALL || main.height > SMALL;
    if main.tile.is_none() {
        let msg = format!(
            "the full-resolution image ({}x{}) is stored in strips, not tiles",
            main.width, main.height
        );
        if big {
            errors.push(msg);
        } else {
            warnings.push(msg);
        }
    }
    let images: Vec<&Level> = levels.iter().filter(|l| !l.mask).collect();
    let overviews: Vec<&Level> = images.iter().skip(1).copied().collect();
    if big && overviews.is_empty() {
        errors.push(format!(
            "the image is {}x{} but has no overviews; readers must fetch every block to show it at a small scale",
            main.width, main.height
        ));
    }
    for pair in images.windows(2) {
        if pair[1].width >= pair[0].width || pair[1].height >= pair[0].height {
            errors.push(format!(
                "overviews are not ordered from largest to smallest: {}x{} follows {}x{}",
                pair[1].width, pair[1].height, pair[0].width, pair[0].height
            ));
        }
        if pair[1].tile.is_none() {
            errors.push(format!(
                "the {}x{} overview is stored in strips, not tiles",
                pair[1].width, pair[1].height
            ));
        }
    }
    let first_data = levels.iter().filter_map(|l| l.first_data).min();
    if let Some(data) = first_data {
        for l in &levels {
            if l.ifd_end > data {
                errors.push(format!(
                    "the IFD of the {}x{} {} (offset {}) is not before the image data (which starts at offset {data})",
                    l.width,
                    l.height,
                    if l.mask { "mask" } else if l.overview { "overview" } else { "image" },
                    l.ifd_offset
                ));
            }
        }
    }
    for pair in images.windows(2) {
        if let (Some(larger), Some(smaller)) = (pair[0].first_data, pair[1].first_data) {
            if smaller > larger {
                errors.push(format!(
                    "the data of the {}x{} overview comes after the data of the {}x{} image; COGs store the smallest overview first",
                    pair[1].width, pair[1].height, pair[0].width, pair[0].height
                ));
            }
        }
    }
    match &ghost {
        None => warnings.push(
            "no GDAL ghost header: not written by GDAL's COG driver (other writers can make valid COGs)"
                .to_string(),
        ),
        Some(kv) => {
            if kv
                .iter()
                .any(|(k, v)| k == "KNOWN_INCOMPATIBLE_EDITION" && v == "YES")
            {
                errors.push(
                    "the ghost header says KNOWN_INCOMPATIBLE_EDITION=YES: the file was modified after it was written as a COG"
                        .to_string(),
                );
            }
        }
    }
    Ok(Report {
        bigtiff: r.bigtiff,
        header_size: first_data.unwrap_or(len),
        levels,
        ghost_header: ghost,
        truncated,
        errors,
        warnings,
        tags,
        big_endian: r.big_endian,
    })
}

/// Where the rows of an uncompressed, stripped, little-endian TIFF's first
/// image lie in the file: what the native COG writer reads directly instead
/// of through GDAL ([`raw_strips`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawStrips {
    pub width: usize,
    pub height: usize,
    pub samples: usize,
    /// Bytes per sample.
    pub size: usize,
    /// TIFF SampleFormat: 1 unsigned, 2 signed, 3 float.
    pub sample_format: u16,
    /// Whether each sample has its own plane (PlanarConfiguration 2).
    pub planar: bool,
    pub rows_per_strip: usize,
    pub offsets: Vec<u64>,
}

/// The strips of the first image of the TIFF at `path` when its rows can be
/// read as they are stored: little-endian, uncompressed, stripped, whole
/// bytes per sample, every strip within the file; with the file, open.
/// Otherwise why not.
pub(crate) fn raw_strips(path: &Path) -> std::result::Result<(RawStrips, File), String> {
    let mut r = Reader::open(path).map_err(|e| e.to_string())?;
    let len = r.len;
    let first_ifd = r.header()?;
    if r.big_endian {
        return Err("a big-endian TIFF".to_string());
    }
    let (entries, _, _) = read_ifd(&mut r, first_ifd).map_err(|e| e.to_string())?;
    let mut get = |tag: u16| -> std::result::Result<Vec<u64>, String> {
        match entries.iter().find(|e| e.tag == tag) {
            Some(e) => values(&mut r, e).map_err(|e| e.to_string()),
            None => Ok(Vec::new()),
        }
    };
    let one = |v: Vec<u64>, default: u64| v.first().copied().unwrap_or(default);
    let width = one(get(IMAGE_WIDTH)?, 0) as usize;
    let height = one(get(IMAGE_LENGTH)?, 0) as usize;
    let samples = one(get(SAMPLES_PER_PIXEL)?, 1) as usize;
    let bits = get(BITS_PER_SAMPLE)?;
    let formats = get(SAMPLE_FORMAT)?;
    if one(get(COMPRESSION)?, 1) != 1 {
        return Err("the pixels are compressed".to_string());
    }
    if !get(TILE_WIDTH)?.is_empty() {
        return Err("the image is tiled".to_string());
    }
    if !matches!(one(get(PHOTOMETRIC)?, 1), 0..=3) {
        return Err("the photometric interpretation is not gray, RGB or palette".to_string());
    }
    let bits0 = bits.first().copied().unwrap_or(1);
    if width == 0 || height == 0 || samples == 0 || !matches!(bits0, 8 | 16 | 32 | 64) {
        return Err(format!("{bits0}-bit samples"));
    }
    if bits.iter().any(|&b| b != bits0) || formats.iter().any(|&f| Some(&f) != formats.first()) {
        return Err("the samples differ in type".to_string());
    }
    let size = bits0 as usize / 8;
    let planar = match one(get(PLANAR_CONFIG)?, 1) {
        1 => false,
        2 => true,
        p => return Err(format!("planar configuration {p}")),
    };
    let rows_per_strip = (one(get(ROWS_PER_STRIP)?, u32::MAX as u64) as usize).clamp(1, height);
    let offsets = get(STRIP_OFFSETS)?;
    let counts = get(STRIP_BYTE_COUNTS)?;
    let per_plane = height.div_ceil(rows_per_strip);
    let planes = if planar { samples } else { 1 };
    if offsets.len() != per_plane * planes || counts.len() != offsets.len() {
        return Err("the strip offsets do not cover the image".to_string());
    }
    let row_bytes = width * size * if planar { 1 } else { samples };
    for (i, (&o, &c)) in offsets.iter().zip(&counts).enumerate() {
        let rows = rows_per_strip.min(height - (i % per_plane) * rows_per_strip);
        let need = (rows * row_bytes) as u64;
        if c < need || o.saturating_add(need) > len {
            return Err("a strip is shorter than its rows or past the end of the file".to_string());
        }
    }
    let strips = RawStrips {
        width,
        height,
        samples,
        size,
        sample_format: formats.first().copied().unwrap_or(1) as u16,
        planar,
        rows_per_strip,
        offsets,
    };
    Ok((strips, r.file))
}

const BITS_PER_SAMPLE: u16 = 258;
const COMPRESSION: u16 = 259;
const PHOTOMETRIC: u16 = 262;
const SAMPLES_PER_PIXEL: u16 = 277;
const ROWS_PER_STRIP: u16 = 278;
const PLANAR_CONFIG: u16 = 284;
const SAMPLE_FORMAT: u16 = 339;
