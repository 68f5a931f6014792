//! Reading an uncompressed, stripped GeoTIFF's rows straight from the file:
//! one positioned read per run of adjacent strips into the writer's strip
//! buffer, as stored (the planes of a band-interleaved file are
//! interleaved by the workers as they cut the tiles), with none of GDAL's
//! per-strip block cache and sample-by-sample copies. Anything else is
//! read through GDAL.

use super::{Kind, Plan};
use crate::layout::RawStrips;
use gdal::{Dataset, Metadata};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// A source whose rows are read as they are stored.
pub(super) struct RawSource {
    file: File,
    strips: RawStrips,
    /// (file offset, length) of the reads of one plane.
    runs: Vec<(u64, usize)>,
}

impl RawSource {
    /// The raw reader for `ds` (opened by GDAL from `src`), when its rows
    /// are stored exactly as `plan` asks for them; else GDAL reads it.
    pub(super) fn open(ds: &Dataset, src: &Path, plan: &Plan) -> Option<RawSource> {
        if ds.driver().short_name() != "GTiff" || Path::new(&ds.description().ok()?) != src {
            return None;
        }
        let (strips, file) = crate::layout::raw_strips(src).ok()?;
        let same_type = match plan.kind {
            Kind::Float => strips.sample_format == 3,
            Kind::Unsigned | Kind::Signed => matches!(strips.sample_format, 1 | 2),
        };
        if !same_type
            || strips.size != plan.size
            || (strips.width, strips.height, strips.samples)
                != (plan.width, plan.height, plan.bands)
        {
            return None;
        }
        Some(RawSource {
            file,
            strips,
            runs: Vec::new(),
        })
    }

    /// Whether the bands are stored one after the other: [`Self::read`]
    /// then reads them so, and the workers interleave them as they cut
    /// the tiles (no pass of its own over the pixels).
    pub(super) fn planar(&self) -> bool {
        self.strips.planar
    }

    /// Reads `rows` rows from `y0` of every band into `buf` as they are
    /// stored: pixel-interleaved (`width * rows` pixels), or band after
    /// band when [`Self::planar`] (`rows` rows of `width` samples each).
    pub(super) fn read(&mut self, y0: usize, rows: usize, buf: &mut [u8]) -> std::io::Result<()> {
        let RawSource {
            file,
            strips: s,
            runs,
        } = self;
        if !s.planar {
            return read_plane(file, s, runs, 0, y0, rows, buf);
        }
        let plane_bytes = s.width * s.size * rows;
        for (band, plane) in buf.chunks_exact_mut(plane_bytes).enumerate() {
            read_plane(file, s, runs, band, y0, rows, plane)?;
        }
        Ok(())
    }
}

/// Reads rows `y0..y0 + rows` of `plane` (0 when pixel-interleaved) into
/// `out`, adjacent strips in one read.
fn read_plane(
    file: &File,
    s: &RawStrips,
    runs: &mut Vec<(u64, usize)>,
    plane: usize,
    y0: usize,
    rows: usize,
    out: &mut [u8],
) -> std::io::Result<()> {
    let rps = s.rows_per_strip;
    let row_bytes = s.width * s.size * if s.planar { 1 } else { s.samples };
    let per_plane = s.height.div_ceil(rps);
    runs.clear();
    let mut y = y0;
    while y < y0 + rows {
        let k = y / rps;
        let last = (y0 + rows).min((k + 1) * rps);
        let at = s.offsets[plane * per_plane + k] + ((y - k * rps) * row_bytes) as u64;
        let len = (last - y) * row_bytes;
        match runs.last_mut() {
            Some((o, l)) if *o + *l as u64 == at => *l += len,
            _ => runs.push((at, len)),
        }
        y = last;
    }
    let mut rest = out;
    for &(at, len) in runs.iter() {
        let (part, tail) = rest.split_at_mut(len);
        file.read_exact_at(part, at)?;
        rest = tail;
    }
    Ok(())
}

/// One pixel-interleaved row `out` from the rows `plane(band)` of each band
/// (samples of `size` bytes).
pub(super) fn interleave_samples<'a>(
    out: &mut [u8],
    bands: usize,
    size: usize,
    plane: impl Fn(usize) -> &'a [u8],
) {
    match size {
        1 => interleave::<1>(out, bands, plane),
        2 => interleave::<2>(out, bands, plane),
        4 => interleave::<4>(out, bands, plane),
        _ => interleave::<8>(out, bands, plane),
    }
}

/// [`interleave_samples`] of `S` bytes: the usual band counts in one pass
/// the compiler can unroll.
fn interleave<'a, const S: usize>(out: &mut [u8], bands: usize, plane: impl Fn(usize) -> &'a [u8]) {
    let (out, _) = out.as_chunks_mut::<S>();
    let p = |band: usize| plane(band).as_chunks::<S>().0;
    match bands {
        1 => out.copy_from_slice(&p(0)[..out.len()]),
        2 => {
            for (px, (a, b)) in out.chunks_exact_mut(2).zip(p(0).iter().zip(p(1))) {
                px[0] = *a;
                px[1] = *b;
            }
        }
        3 => {
            let samples = p(0).iter().zip(p(1)).zip(p(2));
            for (px, ((a, b), c)) in out.chunks_exact_mut(3).zip(samples) {
                px[0] = *a;
                px[1] = *b;
                px[2] = *c;
            }
        }
        4 => {
            let samples = p(0).iter().zip(p(1)).zip(p(2)).zip(p(3));
            for (px, (((a, b), c), d)) in out.chunks_exact_mut(4).zip(samples) {
                px[0] = *a;
                px[1] = *b;
                px[2] = *c;
                px[3] = *d;
            }
        }
        _ => {
            for band in 0..bands {
                for (dst, v) in out.iter_mut().skip(band).step_by(bands).zip(p(band)) {
                    *dst = *v;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaving_puts_each_band_in_its_place() {
        let planes: Vec<Vec<u8>> = (0..3u8)
            .map(|b| (0..8).map(|i| b * 16 + i).collect())
            .collect();
        let mut out = vec![0; 24];
        interleave::<2>(&mut out, 3, |b| &planes[b][..]);
        // Pixel i holds band 0's sample i, then band 1's, then band 2's.
        assert_eq!(&out[..12], &[0, 1, 16, 17, 32, 33, 2, 3, 18, 19, 34, 35]);
        assert_eq!(&out[18..], &[6, 7, 22, 23, 38, 39]);
        // Every band count and sample size: byte k of band b's sample at
        // pixel i lands at byte k of sample b of pixel i.
        for bands in 1..=6usize {
            for size in [1usize, 2, 4, 8] {
                let pixels = 5;
                let planes: Vec<Vec<u8>> = (0..bands)
                    .map(|b| (0..pixels * size).map(|i| (b * 50 + i) as u8).collect())
                    .collect();
                let mut out = vec![0; pixels * size * bands];
                let at = |b: usize| &planes[b][..];
                match size {
                    1 => interleave::<1>(&mut out, bands, at),
                    2 => interleave::<2>(&mut out, bands, at),
                    4 => interleave::<4>(&mut out, bands, at),
                    _ => interleave::<8>(&mut out, bands, at),
                }
                for (i, v) in out.iter().enumerate() {
                    let (pixel, rest) = (i / (size * bands), i % (size * bands));
                    let (band, byte) = (rest / size, rest % size);
                    assert_eq!(*v, planes[band][pixel * size + byte], "{bands} x {size}");
                }
            }
        }
    }
}
