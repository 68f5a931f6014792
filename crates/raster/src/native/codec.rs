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
