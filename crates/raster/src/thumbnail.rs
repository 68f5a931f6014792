//! Small PNG previews.

use crate::{gdal_app, inspect, Result};
use stacforge_core::RasterProfile;
use std::path::Path;

/// Longest side of a thumbnail, in pixels.
pub const SIZE: usize = 256;

/// Writes a PNG preview of `src` (whose profile is `profile`) at `dst`.
///
/// RGB rasters show their colour bands, paletted ones their palette, others
/// their first band stretched between its minimum and maximum. Invalid pixels
/// are transparent (for paletted rasters, as the palette's alpha says).
pub fn write_thumbnail(src: &Path, dst: &Path, profile: &RasterProfile) -> Result<()> {
    let ds = inspect::open(src)?;
    let (w, h) = (profile.width, profile.height);
    let (tw, th) = if w >= h {
        (SIZE.min(w), ((SIZE.min(w) * h) / w).max(1))
    } else {
        (((SIZE.min(h) * w) / h).max(1), SIZE.min(h))
    };
    let mut args: Vec<String> = vec![
        "-of".into(),
        "PNG".into(),
        // zlib level 1: a preview is made for every item, and at GDAL's
        // default (6) its compression was half the time of a small scene's
        // whole conversion, for files 5-20% smaller.
        "-co".into(),
        "ZLEVEL=1".into(),
        "-outsize".into(),
        tw.to_string(),
        th.to_string(),
    ];
    let colors: Vec<&str> = profile.bands.iter().map(|b| b.color.as_str()).collect();
    let rgb = ["red", "green", "blue"]
        .iter()
        .map(|c| colors.iter().position(|x| x == c))
        .collect::<Option<Vec<_>>>();
    let bands: Vec<usize> = match rgb {
        Some(rgb) => rgb,
        None => vec![0],
    };
    let first = &profile.bands[bands[0]];
    for b in &bands {
        args.push("-b".into());
        args.push((b + 1).to_string());
    }
    if !first.has_palette {
        args.push("-r".into());
        args.push("average".into());
    }
    if first.has_palette {
        // Colours come from the palette, and so does transparency: nodata
        // shows as the palette says (many palettes give it alpha 0).
        args.push("-expand".into());
        args.push("rgba".into());
    } else if let Some(alpha) = colors.iter().position(|c| *c == "alpha") {
        args.push("-b".into());
        args.push((alpha + 1).to_string());
    } else {
        args.push("-a_nodata".into());
        args.push("none".into());
        args.push("-b".into());
        args.push("mask".into());
    }
    let stretch = first.data_type != stacforge_core::DataType::UInt8;
    if stretch {
        let (min, max) = first
            .statistics
            .map(|s| (s.minimum, s.maximum))
            .unwrap_or((0.0, 255.0));
        args.extend(["-ot".into(), "Byte".into(), "-scale_1".into()]);
        args.push(min.to_string());
        args.push(if max > min { max } else { min + 1.0 }.to_string());
        args.push("1".into());
        args.push("255".into());
    }
    let partial = stacforge_core::fs::hidden_sibling(dst, "partial", ".png");
    let _interrupted = stacforge_core::fs::Cleanup::new(partial.clone());
    let result = gdal_app::translate(&ds, &partial, &args).and_then(|()| {
        std::fs::rename(&partial, dst).map_err(|source| crate::Error::Io {
            path: dst.to_path_buf(),
            source,
        })
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}
