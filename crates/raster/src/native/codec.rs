//! Tile encoding: the TIFF predictors and the lossless codecs, one encoder
//! per worker thread (its compressor state is reused for every tile).

use crate::cog::Compression;

/// The TIFF Compression tag value of a codec the native writer has.
pub(crate) fn tiff_code(compression: Compression) -> Option<u16> {
    Some(match compression {
        Compression::None => 1,
        Compression::Lzw => 5,
        Compression::Deflate => 8,
        Compression::Zstd => 50000,
        _ => return None,
    })
}

/// How samples are differenced before compression (TIFF Predictor tag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Predict {
    /// 1: none.
    None,
    /// 2: horizontal differencing of integers (wrapping, per sample).
    Horizontal,
    /// 3: floating point (byte planes, then byte differencing).
    Float,
}

impl Predict {
    pub(crate) fn tiff_code(self) -> u16 {
        match self {
            Predict::None => 1,
            Predict::Horizontal => 2,
            Predict::Float => 3,
        }
    }
}

/// Applies the predictor to one row of `samples` interleaved pixels
/// (`bands` samples of `size` bytes each, little-endian), in place, exactly
/// as libtiff does (`horDiff8/16/32/64`, `fpDiff`); `scratch` is reused.
pub(crate) fn predict_row(
    row: &mut [u8],
    predict: Predict,
    bands: usize,
    size: usize,
    scratch: &mut Vec<u8>,
) {
    match predict {
        Predict::None => {}
        Predict::Horizontal => match size {
            1 => {
                for i in (bands..row.len()).rev() {
                    row[i] = row[i].wrapping_sub(row[i - bands]);
                }
            }
            2 => diff_words::<2>(row, bands),
            4 => diff_words::<4>(row, bands),
            8 => diff_words::<8>(row, bands),
            _ => unreachable!("sample size {size}"),
        },
        Predict::Float => {
            // Byte planes, most significant first, then bytes differenced
            // with a stride of one pixel.
            let count = row.len() / size;
            scratch.clear();
            scratch.extend_from_slice(row);
            for (i, sample) in scratch.chunks_exact(size).enumerate() {
                for (b, &byte) in sample.iter().enumerate() {
                    row[(size - b - 1) * count + i] = byte;
                }
            }
            for i in (bands..row.len()).rev() {
                row[i] = row[i].wrapping_sub(row[i - bands]);
            }
        }
    }
}

/// Copies `src` (whole pixels of `bands` samples of `size` bytes) into
/// `dst` with the horizontal predictor applied: the same bytes as copying
/// then [`predict_row`], in one pass the compiler vectorises (`dst` and
/// `src` are distinct, so no sample depends on one already written).
/// Returns `false`, leaving `dst` to the caller, for other predictors.
pub(crate) fn copy_predicted(
    dst: &mut [u8],
    src: &[u8],
    predict: Predict,
    bands: usize,
    size: usize,
) -> bool {
    match predict {
        Predict::None => dst.copy_from_slice(src),
        Predict::Horizontal => match size {
            1 => {
                dst[..bands].copy_from_slice(&src[..bands]);
                for ((d, &cur), &prev) in dst[bands..].iter_mut().zip(&src[bands..]).zip(src) {
                    *d = cur.wrapping_sub(prev);
                }
            }
            2 => copy_diff::<2>(dst, src, bands, |c, p| {
                u16::from_le_bytes(c)
                    .wrapping_sub(u16::from_le_bytes(p))
                    .to_le_bytes()
            }),
            4 => copy_diff::<4>(dst, src, bands, |c, p| {
                u32::from_le_bytes(c)
                    .wrapping_sub(u32::from_le_bytes(p))
                    .to_le_bytes()
            }),
            8 => copy_diff::<8>(dst, src, bands, |c, p| {
                u64::from_le_bytes(c)
                    .wrapping_sub(u64::from_le_bytes(p))
                    .to_le_bytes()
            }),
            _ => unreachable!("sample size {size}"),
        },
        Predict::Float => return false,
    }
    true
}

/// An unsigned integer of one sample's width, for the typed loops the
/// compiler vectorises (on little-endian machines, the only ones the
/// native writer runs on, its bytes are the stored sample's).
pub(crate) trait Sample: Copy + 'static {
    fn wrapping_sub(self, other: Self) -> Self;
}

macro_rules! sample {
    ($($t:ty),*) => {$(
        impl Sample for $t {
            fn wrapping_sub(self, other: Self) -> Self {
                <$t>::wrapping_sub(self, other)
            }
        }
    )*};
}
sample!(u8, u16, u32, u64);

/// `bytes` as samples of `T`, when they are aligned for them.
pub(crate) fn typed<T: Sample>(bytes: &[u8]) -> Option<&[T]> {
    // SAFETY: every bit pattern is a valid unsigned integer.
    let (head, samples, tail) = unsafe { bytes.align_to::<T>() };
    (head.is_empty() && tail.is_empty()).then_some(samples)
}

/// [`typed`], mutable.
pub(crate) fn typed_mut<T: Sample>(bytes: &mut [u8]) -> Option<&mut [T]> {
    // SAFETY: as in `typed`; any value written is a valid sample.
    let (head, samples, tail) = unsafe { bytes.align_to_mut::<T>() };
    (head.is_empty() && tail.is_empty()).then_some(samples)
}

/// Interleaves the rows `plane(band)` (samples of `size` bytes) into the
/// pixels `dst` with the horizontal predictor applied: the same bytes as
/// interleaving then [`predict_row`], in one pass. Returns `false`, leaving
/// `dst` to the caller, for other predictors, more than four bands and
/// rows not aligned for their samples.
pub(crate) fn interleave_predicted<'a>(
    dst: &mut [u8],
    plane: impl Fn(usize) -> &'a [u8],
    predict: Predict,
    bands: usize,
    size: usize,
) -> bool {
    if predict != Predict::Horizontal {
        return false;
    }
    match size {
        1 => by_bands::<u8>(dst, plane, bands, InterleaveDiff),
        2 => by_bands::<u16>(dst, plane, bands, InterleaveDiff),
        4 => by_bands::<u32>(dst, plane, bands, InterleaveDiff),
        8 => by_bands::<u64>(dst, plane, bands, InterleaveDiff),
        _ => false,
    }
}

/// A loop over `B` bands of samples `T` (a generic function as a value).
pub(crate) trait Kernel<T> {
    fn run<const B: usize>(self, out: &mut [T], planes: [&[T]; B]);
}

/// Runs `kernel` with the rows `plane(band)` as typed, fixed-size arrays of
/// 1 to 4 bands; `false` when they are not aligned or there are more bands.
pub(crate) fn by_bands<'a, T: Sample>(
    dst: &mut [u8],
    plane: impl Fn(usize) -> &'a [u8],
    bands: usize,
    kernel: impl Kernel<T>,
) -> bool {
    fn planes<'a, T: Sample, const B: usize>(
        plane: impl Fn(usize) -> &'a [u8],
    ) -> Option<[&'a [T]; B]> {
        let mut all = [&[][..]; B];
        for (b, p) in all.iter_mut().enumerate() {
            *p = typed::<T>(plane(b))?;
        }
        Some(all)
    }
    let Some(out) = typed_mut::<T>(dst) else {
        return false;
    };
    macro_rules! run {
        ($b:literal) => {
            match planes::<T, $b>(plane) {
                Some(p) => kernel.run::<$b>(out, p),
                None => return false,
            }
        };
    }
    match bands {
        1 => run!(1),
        2 => run!(2),
        3 => run!(3),
        4 => run!(4),
        _ => return false,
    }
    true
}

/// Pixel `i`, sample `b` of `out` = sample `i` of `planes[b]` minus sample
/// `i - 1` (the first as it is).
struct InterleaveDiff;

impl<T: Sample> Kernel<T> for InterleaveDiff {
    fn run<const B: usize>(self, out: &mut [T], planes: [&[T]; B]) {
        let n = out.len() / B;
        // Every length known: no bounds checks in the loop.
        let planes = planes.map(|p| &p[..n]);
        let out = &mut out[..n * B];
        if n == 0 {
            return;
        }
        for b in 0..B {
            out[b] = planes[b][0];
        }
        for i in 1..n {
            for b in 0..B {
                out[i * B + b] = planes[b][i].wrapping_sub(planes[b][i - 1]);
            }
        }
    }
}

fn copy_diff<const N: usize>(
    dst: &mut [u8],
    src: &[u8],
    bands: usize,
    diff: impl Fn([u8; N], [u8; N]) -> [u8; N],
) {
    let lead = bands * N;
    dst[..lead].copy_from_slice(&src[..lead]);
    let words = |b: &[u8]| -> [u8; N] { b.try_into().expect("N bytes") };
    for ((d, cur), prev) in dst[lead..]
        .chunks_exact_mut(N)
        .zip(src[lead..].chunks_exact(N))
        .zip(src.chunks_exact(N))
    {
        d.copy_from_slice(&diff(words(cur), words(prev)));
    }
}

fn diff_words<const N: usize>(row: &mut [u8], bands: usize) {
    let n = row.len() / N;
    let get = |row: &[u8], i: usize| {
        let mut b = [0u8; 8];
        b[..N].copy_from_slice(&row[i * N..i * N + N]);
        u64::from_le_bytes(b)
    };
    for i in (bands..n).rev() {
        let v = get(row, i).wrapping_sub(get(row, i - bands));
        row[i * N..i * N + N].copy_from_slice(&v.to_le_bytes()[..N]);
    }
}

/// One thread's compressor.
pub(crate) enum Encoder {
    None,
    Deflate(libdeflater::Compressor),
    Zstd(zstd::bulk::Compressor<'static>),
    Lzw,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Encoder::None => "none",
            Encoder::Deflate(_) => "deflate",
            Encoder::Zstd(_) => "zstd",
            Encoder::Lzw => "lzw",
        })
    }
}

/// GDAL's default levels: DEFLATE 6, ZSTD 9.
pub(crate) fn default_level(compression: Compression) -> Option<u8> {
    match compression {
        Compression::Deflate => Some(6),
        Compression::Zstd => Some(9),
        _ => None,
    }
}

impl Encoder {
    pub(crate) fn new(compression: Compression, level: Option<u8>) -> std::io::Result<Encoder> {
        let level = level.or(default_level(compression));
        Ok(match compression {
            Compression::Deflate => {
                let lvl = libdeflater::CompressionLvl::new(i32::from(level.unwrap_or(6)))
                    .map_err(|e| std::io::Error::other(format!("DEFLATE level: {e:?}")))?;
                Encoder::Deflate(libdeflater::Compressor::new(lvl))
            }
            Compression::Zstd => {
                Encoder::Zstd(zstd::bulk::Compressor::new(i32::from(level.unwrap_or(9)))?)
            }
            Compression::Lzw => Encoder::Lzw,
            _ => Encoder::None,
        })
    }

    /// The encoded tile, compressed in `buf` (kept between calls, so each
    /// tile costs one allocation of its own size).
    pub(crate) fn encode(&mut self, raw: &[u8], buf: &mut Vec<u8>) -> std::io::Result<Vec<u8>> {
        match self {
            Encoder::None => Ok(raw.to_vec()),
            Encoder::Deflate(c) => {
                buf.resize(c.zlib_compress_bound(raw.len()), 0);
                let n = c
                    .zlib_compress(raw, buf)
                    .map_err(|e| std::io::Error::other(format!("DEFLATE: {e:?}")))?;
                Ok(buf[..n].to_vec())
            }
            Encoder::Zstd(c) => {
                buf.clear();
                buf.reserve(zstd::zstd_safe::compress_bound(raw.len()));
                c.compress_to_buffer(raw, buf)?;
                Ok(buf.as_slice().to_vec())
            }
            Encoder::Lzw => weezl::encode::Encoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8)
                .encode(raw)
                .map_err(|e| std::io::Error::other(format!("LZW: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copying_with_the_predictor_equals_copying_then_predicting() {
        let src: Vec<u8> = (0..960u32).map(|i| (i * 7919 % 251) as u8).collect();
        for size in [1, 2, 4, 8] {
            for bands in 1..=4 {
                let len = src.len() / (size * bands) * size * bands;
                let mut want = src[..len].to_vec();
                predict_row(&mut want, Predict::Horizontal, bands, size, &mut Vec::new());
                let mut got = vec![0; len];
                assert!(copy_predicted(
                    &mut got,
                    &src[..len],
                    Predict::Horizontal,
                    bands,
                    size
                ));
                assert_eq!(got, want, "{bands} bands of {size} bytes");
            }
        }
    }

    #[test]
    fn interleaving_with_the_predictor_equals_interleaving_then_predicting() {
        let src: Vec<u8> = (0..4800u32).map(|i| (i * 7919 % 251) as u8).collect();
        for size in [1, 2, 4, 8] {
            for bands in 1..=4 {
                let samples = 150;
                let plane = |b: usize| &src[b * samples * size..(b + 1) * samples * size];
                let mut want = vec![0; samples * size * bands];
                crate::native::source::interleave_samples(&mut want, bands, size, plane);
                predict_row(&mut want, Predict::Horizontal, bands, size, &mut Vec::new());
                let mut got = vec![0; want.len()];
                assert!(interleave_predicted(
                    &mut got,
                    plane,
                    Predict::Horizontal,
                    bands,
                    size
                ));
                assert_eq!(got, want, "{bands} bands of {size} bytes");
            }
        }
        // Other predictors and band counts are left to the caller.
        let plane = |_: usize| &src[..];
        assert!(!interleave_predicted(
            &mut [0; 8],
            plane,
            Predict::Float,
            1,
            4
        ));
        assert!(!interleave_predicted(
            &mut [0; 10],
            plane,
            Predict::Horizontal,
            5,
            2
        ));
    }

    #[test]
    fn horizontal_differencing_wraps_per_band() {
        // Two bands of u16: (1, 10), (3, 5), (2, 65535).
        let values: [u16; 6] = [1, 10, 3, 5, 2, 65535];
        let mut row: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        predict_row(&mut row, Predict::Horizontal, 2, 2, &mut Vec::new());
        let got: Vec<u16> = row
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(got, [1, 10, 2, 65531, 65535, 65530]);
    }

    #[test]
    fn floating_point_predictor_splits_byte_planes() {
        let values = [1.0f32, 1.5];
        let mut row: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        predict_row(&mut row, Predict::Float, 1, 4, &mut Vec::new());
        // Planes (MSB first): [3f,3f] [80,c0] [00,00] [00,00], then differenced.
        assert_eq!(row, [0x3f, 0x00, 0x41, 0x40, 0x40, 0x00, 0x00, 0x00]);
    }
}
