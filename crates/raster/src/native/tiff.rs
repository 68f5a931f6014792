//! The TIFF side of the native writer: the IFDs of every level, laid out
//! before the data as GDAL's COG driver lays them out (ghost header, tile
//! leaders and trailers, smallest overview first), and the tags GDAL itself
//! writes for a dataset, read from a one-pixel GeoTIFF GDAL makes from it.

use std::io::Write;

/// TIFF field types used here.
pub(crate) const SHORT: u16 = 3;
pub(crate) const LONG: u16 = 4;
pub(crate) const LONG8: u16 = 16;

pub(crate) const NEW_SUBFILE_TYPE: u16 = 254;
pub(crate) const IMAGE_WIDTH: u16 = 256;
pub(crate) const IMAGE_LENGTH: u16 = 257;
pub(crate) const BITS_PER_SAMPLE: u16 = 258;
pub(crate) const COMPRESSION: u16 = 259;
pub(crate) const PHOTOMETRIC: u16 = 262;
pub(crate) const SAMPLES_PER_PIXEL: u16 = 277;
pub(crate) const PLANAR_CONFIG: u16 = 284;
pub(crate) const PREDICTOR: u16 = 317;
pub(crate) const COLOR_MAP: u16 = 320;
pub(crate) const TILE_WIDTH: u16 = 322;
pub(crate) const TILE_LENGTH: u16 = 323;
pub(crate) const TILE_OFFSETS: u16 = 324;
pub(crate) const TILE_BYTE_COUNTS: u16 = 325;
pub(crate) const EXTRA_SAMPLES: u16 = 338;
pub(crate) const SAMPLE_FORMAT: u16 = 339;
pub(crate) const GDAL_NODATA: u16 = 42113;

/// Tags the writer sets itself; every other tag of GDAL's template is copied.
const STRUCTURAL: &[u16] = &[
    NEW_SUBFILE_TYPE,
    IMAGE_WIDTH,
    IMAGE_LENGTH,
    COMPRESSION,
    273, // StripOffsets
    SAMPLES_PER_PIXEL,
    278, // RowsPerStrip
    279, // StripByteCounts
    PLANAR_CONFIG,
    PREDICTOR,
    TILE_WIDTH,
    TILE_LENGTH,
    TILE_OFFSETS,
    TILE_BYTE_COUNTS,
];

/// Tags GDAL repeats in every overview IFD.
pub(crate) const OVERVIEW_COPIES: &[u16] = &[
    BITS_PER_SAMPLE,
    PHOTOMETRIC,
    COLOR_MAP,
    EXTRA_SAMPLES,
    SAMPLE_FORMAT,
    GDAL_NODATA,
];

/// One IFD entry: its values as little-endian bytes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tag {
    pub code: u16,
    pub typ: u16,
    pub count: u64,
    pub data: Vec<u8>,
}

impl Tag {
    pub(crate) fn short(code: u16, values: &[u16]) -> Tag {
        Tag {
            code,
            typ: SHORT,
            count: values.len() as u64,
            data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }

    /// SHORT when it fits, LONG otherwise (as libtiff writes image sizes).
    pub(crate) fn size(code: u16, value: u64) -> Tag {
        match u16::try_from(value) {
            Ok(v) => Tag::short(code, &[v]),
            Err(_) => Tag {
                code,
                typ: LONG,
                count: 1,
                data: (value as u32).to_le_bytes().to_vec(),
            },
        }
    }

    pub(crate) fn long(code: u16, value: u32) -> Tag {
        Tag {
            code,
            typ: LONG,
            count: 1,
            data: value.to_le_bytes().to_vec(),
        }
    }
}

use crate::layout::type_size;

/// The non-structural tags of the first IFD of a little-endian classic TIFF
/// (GDAL's one-pixel template), with their values.
pub(crate) fn template_tags(file: &[u8]) -> std::result::Result<Vec<Tag>, String> {
    let u16_at = |o: usize| -> std::result::Result<u16, String> {
        file.get(o..o + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .ok_or_else(|| format!("template TIFF cut short at {o}"))
    };
    let u32_at = |o: usize| -> std::result::Result<u32, String> {
        file.get(o..o + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| format!("template TIFF cut short at {o}"))
    };
    if file.get(0..4) != Some(b"II*\0") {
        return Err("GDAL's template is not a little-endian classic TIFF".to_string());
    }
    let ifd = u32_at(4)? as usize;
    let n = u16_at(ifd)? as usize;
    let mut tags = Vec::with_capacity(n);
    for i in 0..n {
        let e = ifd + 2 + 12 * i;
        let code = u16_at(e)?;
        let typ = u16_at(e + 2)?;
        let count = u32_at(e + 4)? as usize;
        if STRUCTURAL.contains(&code) {
            continue;
        }
        let size = type_size(typ).ok_or_else(|| format!("tag {code} has type {typ}"))? * count;
        let at = if size <= 4 {
            e + 8
        } else {
            u32_at(e + 8)? as usize
        };
        let data = file
            .get(at..at + size)
            .ok_or_else(|| format!("tag {code}'s values lie outside the template"))?
            .to_vec();
        tags.push(Tag {
            code,
            typ,
            count: count as u64,
            data,
        });
    }
    Ok(tags)
}

/// One image of the COG: its tags (without tile offsets and byte counts)
/// and its compressed tiles in row-major order.
#[derive(Debug)]
pub(crate) struct Image {
    pub tags: Vec<Tag>,
    pub tiles: Vec<Vec<u8>>,
}

/// GDAL's ghost header for `LAYOUT=IFDS_BEFORE_DATA` with block leaders
/// and trailers.
const GHOST: &str = "GDAL_STRUCTURAL_METADATA_SIZE=000140 bytes\nLAYOUT=IFDS_BEFORE_DATA\nBLOCK_ORDER=ROW_MAJOR\nBLOCK_LEADER=SIZE_AS_UINT4\nBLOCK_TRAILER=LAST_4_BYTES_REPEATED\nKNOWN_INCOMPATIBLE_EDITION=NO\n ";

/// Bytes of each tile besides its data: the 4-byte leader and trailer.
const FRAMING: u64 = 8;

struct Layout {
    bigtiff: bool,
    /// The header, ghost area and every IFD with its values.
    head: Vec<u8>,
}

fn align(buf: &mut Vec<u8>) {
    if buf.len() % 2 == 1 {
        buf.push(0);
    }
}

/// Lays out the header and IFDs; tile data starts at `head.len()`.
fn layout(images: &[Image], bigtiff: bool) -> Layout {
    let (head_len, count_len, entry_len, word) = if bigtiff {
        (16u64, 8usize, 20usize, 8usize)
    } else {
        (8, 2, 12, 4)
    };
    let offset_type = if bigtiff { LONG8 } else { LONG };
    // Pass 1: sizes (offset values do not change the sizes).
    let ifd_size = |img: &Image| -> u64 {
        let n = img.tags.len() + 2;
        let mut size = (count_len + n * entry_len + word) as u64;
        for t in &img.tags {
            if t.data.len() > word {
                size += t.data.len().next_multiple_of(2) as u64;
            }
        }
        let arrays = img.tiles.len() * word;
        if arrays > word {
            size += 2 * arrays.next_multiple_of(2) as u64;
        }
        size
    };
    let ghost_end = (head_len + GHOST.len() as u64).next_multiple_of(2);
    let mut ifd_offsets = Vec::with_capacity(images.len());
    let mut at = ghost_end;
    for img in images {
        ifd_offsets.push(at);
        at += ifd_size(img);
    }
    let data_start = at;
    // Data order: smallest overview first, row-major in each image.
    let mut tile_offsets: Vec<Vec<u64>> = images.iter().map(|_| Vec::new()).collect();
    let mut pos = data_start;
    for (i, img) in images.iter().enumerate().rev() {
        for tile in &img.tiles {
            tile_offsets[i].push(pos + 4);
            pos += tile.len() as u64 + FRAMING;
        }
    }
    // Pass 2: bytes.
    let mut head = Vec::with_capacity(data_start as usize);
    head.extend_from_slice(b"II");
    if bigtiff {
        head.extend_from_slice(&43u16.to_le_bytes());
        head.extend_from_slice(&8u16.to_le_bytes());
        head.extend_from_slice(&0u16.to_le_bytes());
        head.extend_from_slice(&ifd_offsets[0].to_le_bytes());
    } else {
        head.extend_from_slice(&42u16.to_le_bytes());
        head.extend_from_slice(&(ifd_offsets[0] as u32).to_le_bytes());
    }
    head.extend_from_slice(GHOST.as_bytes());
    align(&mut head);
    let put_word = |buf: &mut Vec<u8>, v: u64| {
        if bigtiff {
            buf.extend_from_slice(&v.to_le_bytes());
        } else {
            buf.extend_from_slice(&(v as u32).to_le_bytes());
        }
    };
    for (i, img) in images.iter().enumerate() {
        debug_assert_eq!(head.len() as u64, ifd_offsets[i]);
        let words = |values: Vec<u64>| -> Vec<u8> {
            values
                .into_iter()
                .flat_map(|v| {
                    if bigtiff {
                        v.to_le_bytes().to_vec()
                    } else {
                        (v as u32).to_le_bytes().to_vec()
                    }
                })
                .collect()
        };
        let mut tags = img.tags.clone();
        tags.push(Tag {
            code: TILE_OFFSETS,
            typ: offset_type,
            count: img.tiles.len() as u64,
            data: words(tile_offsets[i].clone()),
        });
        tags.push(Tag {
            code: TILE_BYTE_COUNTS,
            typ: offset_type,
            count: img.tiles.len() as u64,
            data: words(img.tiles.iter().map(|t| t.len() as u64).collect()),
        });
        tags.sort_by_key(|t| t.code);
        let start = head.len() as u64;
        let mut values_at = start + (count_len + tags.len() * entry_len + word) as u64;
        put_word_count(&mut head, tags.len() as u64, bigtiff);
        let mut values = Vec::new();
        for t in &tags {
            head.extend_from_slice(&t.code.to_le_bytes());
            head.extend_from_slice(&t.typ.to_le_bytes());
            put_word(&mut head, t.count);
            if t.data.len() <= word {
                let mut inline = t.data.clone();
                inline.resize(word, 0);
                head.extend_from_slice(&inline);
            } else {
                put_word(&mut head, values_at);
                values.extend_from_slice(&t.data);
                align(&mut values);
                values_at = start
                    + (count_len + tags.len() * entry_len + word) as u64
                    + values.len() as u64;
            }
        }
        put_word(&mut head, ifd_offsets.get(i + 1).copied().unwrap_or(0));
        head.extend_from_slice(&values);
    }
    debug_assert_eq!(head.len() as u64, data_start);
    Layout { bigtiff, head }
}

fn put_word_count(buf: &mut Vec<u8>, n: u64, bigtiff: bool) {
    if bigtiff {
        buf.extend_from_slice(&n.to_le_bytes());
    } else {
        buf.extend_from_slice(&(n as u16).to_le_bytes());
    }
}

/// Writes the COG: header and IFDs, then every tile (leader, data,
/// trailer), smallest overview first. BigTIFF when a classic TIFF's 32-bit
/// offsets cannot address the file. Returns whether it is BigTIFF.
pub(crate) fn write(out: &mut impl Write, images: &[Image]) -> std::io::Result<bool> {
    let data: u64 = images
        .iter()
        .flat_map(|i| &i.tiles)
        .map(|t| t.len() as u64 + FRAMING)
        .sum();
    let classic = layout(images, false);
    let laid = if classic.head.len() as u64 + data > u64::from(u32::MAX) {
        layout(images, true)
    } else {
        classic
    };
    out.write_all(&laid.head)?;
    for img in images.iter().rev() {
        for tile in &img.tiles {
            out.write_all(&(tile.len() as u32).to_le_bytes())?;
            out.write_all(tile)?;
            let mut trailer = [0u8; 4];
            let tail = &tile[tile.len().saturating_sub(4)..];
            trailer[..tail.len()].copy_from_slice(tail);
            out.write_all(&trailer)?;
        }
    }
    Ok(laid.bigtiff)
}
