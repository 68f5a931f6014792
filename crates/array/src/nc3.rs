//! The header of classic NetCDF files (CDF-1 classic, CDF-2 64-bit offset,
//! CDF-5 64-bit data), read for where each variable's data lies: netCDF-C
//! does not say, and references need byte ranges.
//!
//! Layout (NetCDF classic format specification): non-record variables are
//! contiguous at their `begin`; record variables interleave, record `r` of a
//! variable at `begin + r * recsize`, where `recsize` sums the record
//! variables' `vsize` (unpadded when there is only one record variable).
//! Values are big-endian.

use crate::{ElementType, Error, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// Where one variable's data lies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Offset of its first value (of its first record, for record variables).
    pub begin: u64,
    /// Bytes of one record (record variables) or of the whole variable.
    pub size: u64,
    /// Whether it is a record variable (its first dimension unlimited).
    pub record: bool,
}

/// A classic file's layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Number of records.
    pub numrecs: u64,
    /// Bytes between consecutive records of a record variable.
    pub recsize: u64,
    /// Each variable's placement.
    pub vars: BTreeMap<String, Placement>,
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
    wide: bool,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let out = self.bytes.get(self.at..self.at + n)?;
        self.at += n;
        Some(out)
    }
    fn u32(&mut self) -> Option<u64> {
        self.take(4)
            .map(|b| u64::from(u32::from_be_bytes(b.try_into().expect("4 bytes"))))
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8)
            .map(|b| u64::from_be_bytes(b.try_into().expect("8 bytes")))
    }
    /// A count: 4 bytes, 8 in CDF-5.
    fn count(&mut self) -> Option<u64> {
        if self.wide {
            self.u64()
        } else {
            self.u32()
        }
    }
    fn name(&mut self) -> Option<String> {
        let n = self.count()? as usize;
        let text = String::from_utf8_lossy(self.take(n)?).into_owned();
        self.take((4 - n % 4) % 4)?;
        Some(text)
    }
    fn skip_attributes(&mut self) -> Option<()> {
        let tag = self.u32()?;
        let n = self.count()?;
        if tag == 0 && n == 0 {
            return Some(());
        }
        for _ in 0..n {
            self.name()?;
            let size = type_size(self.u32()?)?;
            let values = self.count()? as usize * size;
            self.take(values + (4 - values % 4) % 4)?;
        }
        Some(())
    }
}

fn type_size(nc_type: u64) -> Option<usize> {
    Some(match nc_type {
        1 | 2 | 7 => 1,
        3 | 8 => 2,
        4 | 5 | 9 => 4,
        6 | 10 | 11 => 8,
        _ => return None,
    })
}

/// The element type of a classic `nc_type`.
pub fn element_type(nc_type: u64) -> Option<ElementType> {
    Some(match nc_type {
        1 => ElementType::Int8,
        3 => ElementType::Int16,
        4 => ElementType::Int32,
        5 => ElementType::Float32,
        6 => ElementType::Float64,
        7 => ElementType::UInt8,
        8 => ElementType::UInt16,
        9 => ElementType::UInt32,
        10 => ElementType::Int64,
        11 => ElementType::UInt64,
        _ => return None,
    })
}

/// Reads the header of the classic file at `path`; `None` when it is not
/// one (NetCDF-4/HDF5 files are not).
pub fn read_header(path: &Path) -> Result<Option<Header>> {
    use std::io::Read;
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    // Headers are small: read the first MiB, and the whole file only when
    // the header runs past it.
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    (&mut file)
        .take(HEADER_PREFIX)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    match parse(path, &bytes) {
        Err(_) if bytes.len() as u64 == HEADER_PREFIX => {
            file.read_to_end(&mut bytes).map_err(io)?;
            parse(path, &bytes)
        }
        parsed => parsed,
    }
}

/// How much of a file is read first for its header.
const HEADER_PREFIX: u64 = 1 << 20;

/// Checks that a classic file holds every byte its header declares (every
/// variable's data, every record); `Ok` for files that are not classic.
/// netCDF-C reads the missing part of a truncated file as zeros.
pub fn check_complete(path: &Path) -> Result<()> {
    let Some(header) = read_header(path)? else {
        return Ok(());
    };
    let len = crate::error::file_len(path)?;
    if let Some((name, end)) = header.declared_end() {
        if end > len {
            return Err(Error::Read {
                path: path.to_path_buf(),
                what: "the classic NetCDF data".into(),
                message: format!(
                    "the file is truncated: its header places variable `{name}` up to byte {end}, but the file has {len} bytes"
                ),
            });
        }
    }
    Ok(())
}

impl Header {
    /// The variable whose data ends last, and where it ends (`None` for a
    /// file without data, or streamed with an unknown record count).
    pub fn declared_end(&self) -> Option<(&str, u64)> {
        let streaming = self.numrecs == u64::from(u32::MAX) || self.numrecs == u64::MAX;
        self.vars
            .iter()
            .filter(|(_, p)| !(p.record && streaming))
            .filter_map(|(name, p)| {
                let end = if p.record {
                    if self.numrecs == 0 {
                        return None;
                    }
                    p.begin + (self.numrecs - 1) * self.recsize + p.size
                } else {
                    p.begin + p.size
                };
                Some((name.as_str(), end))
            })
            .max_by_key(|(_, end)| *end)
    }
}

fn parse(path: &Path, bytes: &[u8]) -> Result<Option<Header>> {
    let version = match bytes.get(..4) {
        Some([b'C', b'D', b'F', v @ (1 | 2 | 5)]) => *v,
        _ => return Ok(None),
    };
    let corrupt = || Error::Read {
        path: path.to_path_buf(),
        what: "the classic NetCDF header".into(),
        message: "it ends early or holds an unknown type (truncated or corrupt?)".into(),
    };
    let mut c = Cursor {
        bytes,
        at: 4,
        wide: version == 5,
    };
    let numrecs = c.count().ok_or_else(corrupt)?;
    // Dimensions: lengths, 0 for the record dimension.
    let mut dims = Vec::new();
    let (tag, n) = (c.u32().ok_or_else(corrupt)?, c.count().ok_or_else(corrupt)?);
    if tag != 0 || n != 0 {
        for _ in 0..n {
            c.name().ok_or_else(corrupt)?;
            dims.push(c.count().ok_or_else(corrupt)?);
        }
    }
    c.skip_attributes().ok_or_else(corrupt)?;
    let mut vars = BTreeMap::new();
    let mut record_sizes = Vec::new();
    let (tag, n) = (c.u32().ok_or_else(corrupt)?, c.count().ok_or_else(corrupt)?);
    if tag != 0 || n != 0 {
        for _ in 0..n {
            let name = c.name().ok_or_else(corrupt)?;
            let ndims = c.count().ok_or_else(corrupt)?;
            let mut ids = Vec::new();
            for _ in 0..ndims {
                ids.push(c.count().ok_or_else(corrupt)? as usize);
            }
            c.skip_attributes().ok_or_else(corrupt)?;
            let nc_type = c.u32().ok_or_else(corrupt)?;
            let vsize = c.count().ok_or_else(corrupt)?;
            let begin = if version == 1 { c.u32() } else { c.u64() }.ok_or_else(corrupt)?;
            let item = type_size(nc_type).ok_or_else(corrupt)? as u64;
            let record = ids.first().is_some_and(|&d| dims.get(d) == Some(&0));
            let lens: Vec<u64> = ids
                .iter()
                .skip(usize::from(record))
                .map(|&d| dims.get(d).copied().unwrap_or(0))
                .collect();
            let size = lens.iter().product::<u64>() * item;
            if record {
                record_sizes.push(vsize);
            }
            vars.insert(
                name,
                Placement {
                    begin,
                    size,
                    record,
                },
            );
        }
    }
    let recsize = match record_sizes.as_slice() {
        // One record variable: records are not padded.
        [_] => vars.values().find(|p| p.record).map_or(0, |p| p.size),
        sizes => sizes.iter().sum(),
    };
    Ok(Some(Header {
        numrecs,
        recsize,
        vars,
    }))
}
