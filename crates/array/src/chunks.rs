//! The HDF5 chunk index of NetCDF-4/HDF5 variables: where each chunk lies in
//! the file and how it is encoded, read from the index without reading data,
//! and chunks decoded directly (pread + libdeflate + unshuffle), outside
//! netCDF-C's global lock so that many can be decoded at once.

use crate::{Error, Result};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// One step of an HDF5 filter pipeline that stacforge can decode and
/// express in Zarr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// Byte shuffle of elements of this size.
    Shuffle(usize),
    /// zlib (deflate) at a level.
    Deflate(u8),
    /// A Fletcher-32 checksum appended to the chunk.
    Fletcher32,
}

/// How a variable's data is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// In chunks of this shape, each encoded by the filters.
    Chunked(Vec<u64>),
    /// In one block at `addr` (`None` when never written).
    Contiguous {
        /// File offset, when allocated.
        addr: Option<u64>,
        /// Bytes.
        size: u64,
    },
    /// Inside the object header (small variables).
    Compact,
}

/// A variable's storage: shape, layout, filters and element encoding.
#[derive(Debug, Clone, PartialEq)]
pub struct Storage {
    /// The variable's shape.
    pub shape: Vec<u64>,
    /// Its layout.
    pub layout: Layout,
    /// Its filter pipeline in encoding order, or why it cannot be decoded.
    pub filters: std::result::Result<Vec<Codec>, String>,
    /// Bytes per element.
    pub item: usize,
    /// Whether elements are stored big-endian.
    pub big_endian: bool,
}

/// Where one chunk lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkLoc {
    /// File offset.
    pub addr: u64,
    /// Stored bytes.
    pub size: u64,
    /// Filters skipped for this chunk (bit i: filter i).
    pub filter_mask: u32,
}

/// An HDF5 file opened for its chunk index.
#[derive(Debug)]
pub struct H5File {
    path: PathBuf,
    file: hdf5::File,
    /// The file's length, which no chunk may pass.
    len: u64,
}

impl H5File {
    /// Opens `path` with the HDF5 library (NetCDF-4 files are HDF5 files).
    pub fn open(path: &Path) -> Result<H5File> {
        stacforge_core::quiet_hdf5();
        let file = hdf5::File::open(path).map_err(|e| Error::Open {
            path: path.to_path_buf(),
            message: format!("not an HDF5 file: {e}"),
        })?;
        let len = crate::error::file_len(path)?;
        Ok(H5File {
            path: path.to_path_buf(),
            file,
            len,
        })
    }

    /// Refuses data that the index places past the end of the file.
    fn check_inside(&self, name: &str, addr: u64, size: u64) -> Result<()> {
        if addr.saturating_add(size) > self.len {
            return Err(Error::Read {
                path: self.path.clone(),
                what: format!("dataset `{name}`"),
                message: format!(
                    "its data at byte {addr} ({size} bytes) lies past the end of the file ({} bytes; truncated?)",
                    self.len
                ),
            });
        }
        Ok(())
    }

    fn dataset(&self, name: &str) -> Result<hdf5::Dataset> {
        self.file.dataset(name).map_err(|e| Error::Read {
            path: self.path.clone(),
            what: format!("dataset `{name}`"),
            message: e.to_string(),
        })
    }

    /// The storage of dataset `name` (a path such as `group/var`).
    pub fn storage(&self, name: &str) -> Result<Storage> {
        let ds = self.dataset(name)?;
        let err = |e: hdf5::Error| Error::Read {
            path: self.path.clone(),
            what: format!("dataset `{name}`"),
            message: e.to_string(),
        };
        let dtype = ds.dtype().map_err(err)?;
        let item = dtype.size();
        // SAFETY: the datatype id is valid while `dtype` lives.
        let order = hdf5::sync::sync(|| unsafe { hdf5_sys::h5t::H5Tget_order(dtype.id()) });
        let big_endian = order == hdf5_sys::h5t::H5T_order_t::H5T_ORDER_BE;
        let shape: Vec<u64> = ds.shape().iter().map(|&n| n as u64).collect();
        let layout = match ds.layout() {
            hdf5::dataset::Layout::Chunked => Layout::Chunked(
                ds.chunk()
                    .unwrap_or_default()
                    .iter()
                    .map(|&n| n as u64)
                    .collect(),
            ),
            hdf5::dataset::Layout::Contiguous => {
                let (addr, size) = (ds.offset(), ds.storage_size());
                if let Some(addr) = addr {
                    self.check_inside(name, addr, size)?;
                }
                Layout::Contiguous { addr, size }
            }
            _ => Layout::Compact,
        };
        let filters = ds
            .filters()
            .into_iter()
            .map(|f| match f {
                hdf5::filters::Filter::Deflate(level) => Ok(Codec::Deflate(level)),
                hdf5::filters::Filter::Shuffle => Ok(Codec::Shuffle(item)),
                hdf5::filters::Filter::Fletcher32 => Ok(Codec::Fletcher32),
                other => Err(format!("filter {other:?} cannot be decoded by stacforge")),
            })
            .collect();
        Ok(Storage {
            shape,
            layout,
            filters,
            item,
            big_endian,
        })
    }

    /// Where the chunk whose first element is at `offset` lies; `None` when
    /// it was never written (it reads as the fill value).
    pub fn chunk(&self, name: &str, offset: &[u64]) -> Result<Option<ChunkLoc>> {
        let ds = self.dataset(name)?;
        let (mut mask, mut addr, mut size) = (0u32, 0u64, 0u64);
        // SAFETY: the dataset id is valid while `ds` lives; `offset` has one
        // entry per dimension, as H5Dget_chunk_info_by_coord reads.
        let status = hdf5::sync::sync(|| unsafe {
            hdf5_sys::h5d::H5Dget_chunk_info_by_coord(
                ds.id(),
                offset.as_ptr(),
                &mut mask,
                &mut addr,
                &mut size,
            )
        });
        if status < 0 {
            return Err(Error::Read {
                path: self.path.clone(),
                what: format!("the chunk index of `{name}`"),
                message: format!("no chunk at {offset:?}"),
            });
        }
        if addr != u64::MAX && size > 0 {
            self.check_inside(name, addr, size)?;
        }
        Ok((addr != u64::MAX && size > 0).then_some(ChunkLoc {
            addr,
            size,
            filter_mask: mask,
        }))
    }
}

/// Reads and decodes one stored chunk into its raw native-endian bytes
/// (`expected` of them: the full chunk).
pub fn read_chunk(
    file: &std::fs::File,
    path: &Path,
    loc: &ChunkLoc,
    storage: &Storage,
    expected: usize,
) -> Result<Vec<u8>> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = vec![0u8; loc.size as usize];
    file.read_exact_at(&mut bytes, loc.addr).map_err(io)?;
    let filters = storage.filters.as_ref().map_err(|m| Error::Unsupported {
        path: path.to_path_buf(),
        message: m.clone(),
    })?;
    let bad = |message: String| Error::Read {
        path: path.to_path_buf(),
        what: format!("a chunk at byte {}", loc.addr),
        message,
    };
    for (i, codec) in filters.iter().enumerate().rev() {
        if loc.filter_mask & (1 << i) != 0 {
            continue;
        }
        bytes = match codec {
            Codec::Fletcher32 => {
                if bytes.len() < 4 {
                    return Err(bad("shorter than its checksum".into()));
                }
                bytes.truncate(bytes.len() - 4);
                bytes
            }
            Codec::Deflate(_) => {
                let mut out = vec![0u8; expected];
                let n = libdeflater::Decompressor::new()
                    .zlib_decompress(&bytes, &mut out)
                    .map_err(|e| bad(format!("zlib: {e:?}")))?;
                out.truncate(n);
                out
            }
            Codec::Shuffle(size) => unshuffle(&bytes, *size),
        };
    }
    if bytes.len() != expected {
        return Err(bad(format!(
            "{} bytes decoded, {expected} expected",
            bytes.len()
        )));
    }
    if storage.big_endian && storage.item > 1 {
        for e in bytes.chunks_exact_mut(storage.item) {
            e.reverse();
        }
    }
    Ok(bytes)
}

/// Undoes HDF5's byte shuffle (all first bytes, then all second bytes, …).
fn unshuffle(bytes: &[u8], size: usize) -> Vec<u8> {
    if size <= 1 {
        return bytes.to_vec();
    }
    let n = bytes.len() / size;
    let mut out = vec![0u8; bytes.len()];
    for (b, plane) in bytes[..n * size].chunks_exact(n).enumerate() {
        for (i, &v) in plane.iter().enumerate() {
            out[i * size + b] = v;
        }
    }
    // Trailing bytes that do not fill an element are left as they are.
    out[n * size..].copy_from_slice(&bytes[n * size..]);
    out
}

/// Copies the part of a decoded chunk (of `chunk` shape, starting at
/// element `origin`) that falls inside the region `region` (per-dimension
/// ranges) into `out`, laid out as the region in C order.
pub fn copy_into_region(
    chunk_bytes: &[u8],
    chunk: &[u64],
    origin: &[u64],
    region: &[std::ops::Range<u64>],
    out: &mut [u8],
    item: usize,
) {
    let n = chunk.len();
    if n == 0 {
        out[..item].copy_from_slice(&chunk_bytes[..item]);
        return;
    }
    // The overlap, in array coordinates.
    let lo: Vec<u64> = (0..n).map(|d| origin[d].max(region[d].start)).collect();
    let hi: Vec<u64> = (0..n)
        .map(|d| (origin[d] + chunk[d]).min(region[d].end))
        .collect();
    if (0..n).any(|d| lo[d] >= hi[d]) {
        return;
    }
    let region_len: Vec<u64> = region.iter().map(|r| r.end - r.start).collect();
    let row = (hi[n - 1] - lo[n - 1]) as usize * item;
    let mut idx = lo.clone();
    loop {
        let (mut src, mut dst) = (0u64, 0u64);
        for d in 0..n {
            src = src * chunk[d] + (idx[d] - origin[d]);
            dst = dst * region_len[d] + (idx[d] - region[d].start);
        }
        let (src, dst) = (src as usize * item, dst as usize * item);
        out[dst..dst + row].copy_from_slice(&chunk_bytes[src..src + row]);
        // Next row: odometer over all dimensions but the last.
        let mut d = n - 1;
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            idx[d] += 1;
            if idx[d] < hi[d] {
                break;
            }
            idx[d] = lo[d];
        }
    }
}

/// The first elements of every chunk of a `chunk`-shaped grid over
/// `shape` that intersects `region`.
pub fn chunks_in(shape: &[u64], chunk: &[u64], region: &[std::ops::Range<u64>]) -> Vec<Vec<u64>> {
    let n = shape.len();
    let first: Vec<u64> = (0..n).map(|d| region[d].start / chunk[d]).collect();
    let last: Vec<u64> = (0..n)
        .map(|d| region[d].end.saturating_sub(1) / chunk[d])
        .collect();
    if (0..n).any(|d| region[d].start >= region[d].end) {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut idx = first.clone();
    loop {
        out.push((0..n).map(|d| idx[d] * chunk[d]).collect());
        let mut d = n;
        loop {
            if d == 0 {
                return out;
            }
            d -= 1;
            idx[d] += 1;
            if idx[d] <= last[d] {
                break;
            }
            idx[d] = first[d];
        }
    }
}

/// Reads the hyperslab `ranges` of variable `name` by decoding its HDF5
/// chunks directly; `None` when that is not possible (not an HDF5 file, a
/// layout other than chunked, a filter stacforge cannot decode, a chunk
/// never written), in which case netCDF-C reads it.
pub fn read_direct(
    path: &Path,
    name: &str,
    ranges: &[std::ops::Range<usize>],
) -> Result<Option<Vec<u8>>> {
    let Ok(h5) = H5File::open(path) else {
        return Ok(None);
    };
    let Ok(storage) = h5.storage(name) else {
        return Ok(None);
    };
    let (Layout::Chunked(chunk), Ok(_)) = (&storage.layout, &storage.filters) else {
        return Ok(None);
    };
    if chunk.len() != ranges.len() || ranges.is_empty() {
        return Ok(None);
    }
    let region: Vec<std::ops::Range<u64>> = ranges
        .iter()
        .map(|r| r.start as u64..r.end as u64)
        .collect();
    let elements: u64 = region.iter().map(|r| r.end - r.start).product();
    let expected = chunk.iter().product::<u64>() as usize * storage.item;
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let origins = chunks_in(&storage.shape, chunk, &region);
    // One whole chunk (a daily file's time step): its bytes are the region.
    if let [origin] = origins.as_slice() {
        let whole = (0..chunk.len())
            .all(|d| region[d].start == origin[d] && region[d].end == origin[d] + chunk[d]);
        if whole {
            let Some(loc) = h5.chunk(name, origin)? else {
                return Ok(None);
            };
            return read_chunk(&file, path, &loc, &storage, expected).map(Some);
        }
    }
    let mut out = vec![0u8; elements as usize * storage.item];
    for origin in origins {
        let Some(loc) = h5.chunk(name, &origin)? else {
            return Ok(None);
        };
        let bytes = read_chunk(&file, path, &loc, &storage, expected)?;
        copy_into_region(&bytes, chunk, &origin, &region, &mut out, storage.item);
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unshuffle_inverts_shuffle() {
        let values: Vec<u8> = (0u16..6)
            .flat_map(|v| (v * 257 + 1).to_le_bytes())
            .collect();
        let mut shuffled = vec![0u8; values.len()];
        for (i, b) in values.iter().enumerate() {
            shuffled[(i % 2) * 6 + i / 2] = *b;
        }
        assert_eq!(unshuffle(&shuffled, 2), values);
    }

    #[test]
    fn regions_are_cut_from_chunks() {
        // A 4x4 array of u8 0..16 in 2x2 chunks; read rows 1..3, cols 1..4.
        let region = [1..3u64, 1..4];
        let chunks = chunks_in(&[4, 4], &[2, 2], &region);
        assert_eq!(chunks, vec![vec![0, 0], vec![0, 2], vec![2, 0], vec![2, 2]]);
        let mut out = vec![0u8; 6];
        for origin in &chunks {
            let bytes: Vec<u8> = (0..2)
                .flat_map(|r| (0..2).map(move |c| ((origin[0] + r) * 4 + origin[1] + c) as u8))
                .collect();
            copy_into_region(&bytes, &[2, 2], origin, &region, &mut out, 1);
        }
        assert_eq!(out, vec![5, 6, 7, 9, 10, 11]);
    }
}
