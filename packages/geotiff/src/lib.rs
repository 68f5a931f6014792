//! stacforge's generic package: any raster GDAL can read becomes one
//! Cloud-Optimized GeoTIFF, one PNG thumbnail and one STAC item.
//!
//! Static collection metadata lives in `data/collection.json`.

use stacforge_core::{
    artifact::{COG_MEDIA_TYPE, PNG_MEDIA_TYPE},
    item, Artifact, Job, Package, Result,
};
use stacforge_raster::{
    cog, footprint, header, inspect, layout, thumbnail, CogOptions, InspectOptions,
};
use std::path::Path;

const COLLECTION: &str = include_str!("../data/collection.json");

/// Media type of a GeoTIFF that is not cloud-optimized.
const GEOTIFF_MEDIA_TYPE: &str = "image/tiff; application=geotiff";

/// The generic GeoTIFF/GDAL-raster package.
#[derive(Debug, Clone, Default)]
pub struct GeoTiff {
    cog: CogOptions,
    in_place: bool,
}

impl GeoTiff {
    /// A package that writes COGs with `cog` options.
    pub fn new(cog: CogOptions) -> GeoTiff {
        GeoTiff {
            cog,
            in_place: false,
        }
    }

    /// A package that describes sources where they are: no conversion, no
    /// thumbnail, no pixel read; the item's data asset links to the source
    /// (its size and checksum recorded) and the geometry is the grid's extent.
    pub fn in_place() -> GeoTiff {
        GeoTiff::in_place_with(CogOptions::default())
    }

    /// [`GeoTiff::in_place`]; with [`stacforge_raster::Engine::Gdal`] in
    /// `cog`, headers are read by GDAL instead of stacforge's TIFF reader.
    pub fn in_place_with(cog: CogOptions) -> GeoTiff {
        GeoTiff {
            cog,
            in_place: true,
        }
    }

    /// Whether headers may be read without GDAL.
    fn native_headers(&self) -> bool {
        self.cog.engine != stacforge_raster::Engine::Gdal
    }

    fn describe_in_place(&self, job: &Job) -> Result<Vec<Artifact>> {
        let src = &job.source().path;
        let (layout, mut profile) = header_profile(src, self.native_headers())?;
        item::resolve_timing(job, profile.timing)?;
        profile.footprint = Some(footprint::of_extent(&profile, src)?);
        let (media_type, header_size) = media_type(src, layout.as_ref());
        let mut data = Artifact::in_place("data", job.source(), media_type, &["data"]);
        data.header_size = header_size;
        data.raster = Some(profile);
        Ok(vec![data])
    }
}

/// The layout report (TIFFs) and header profile of a source described in
/// place: from the TIFF tags alone where [`header::profile`] covers the
/// file, from GDAL otherwise. A TIFF whose blocks lie past its end is
/// refused: a file described where it is must be whole.
fn header_profile(
    src: &Path,
    native: bool,
) -> Result<(Option<layout::Report>, stacforge_core::RasterProfile)> {
    let report = layout::check(src).ok();
    if let Some(reason) = report.as_ref().and_then(|r| r.truncated.clone()) {
        return Err(stacforge_raster::Error::Tiff {
            path: src.to_path_buf(),
            reason,
        }
        .into());
    }
    if let Some(profile) = report.as_ref().filter(|_| native).and_then(header::profile) {
        return Ok((report, profile));
    }
    let profile = inspect(
        src,
        &InspectOptions {
            statistics: false,
            footprint: false,
        },
    )?;
    Ok((report, profile))
}

/// The media type of a source described in place (a TIFF is checked for the
/// COG layout), and the header size of a COG.
fn media_type(path: &Path, layout: Option<&layout::Report>) -> (&'static str, Option<u64>) {
    let extension = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "tif" | "tiff" => match layout {
            Some(report) if report.is_valid() => (COG_MEDIA_TYPE, Some(report.header_size)),
            _ => (GEOTIFF_MEDIA_TYPE, None),
        },
        "nc" | "nc4" => ("application/netcdf", None),
        "h5" | "hdf5" | "he5" => ("application/x-hdf5", None),
        "hdf" | "h4" => ("application/x-hdf", None),
        "jp2" => ("image/jp2", None),
        "png" => (PNG_MEDIA_TYPE, None),
        _ => ("application/octet-stream", None),
    }
}

impl Package for GeoTiff {
    fn id(&self) -> &'static str {
        "geotiff"
    }

    fn title(&self) -> &'static str {
        "Any raster GDAL can read: one COG, one thumbnail and one item per file"
    }

    fn collection(&self) -> Result<stac::Collection> {
        stacforge_core::package::static_collection("geotiff", COLLECTION)
    }

    fn writes_files(&self) -> bool {
        !self.in_place
    }

    /// Each source is opened (its header only) and refused for what would
    /// fail its conversion: not a raster, no CRS, a rotated grid, ….
    fn check(&self, sources: &[std::path::PathBuf]) -> Result<()> {
        let header_only = InspectOptions {
            statistics: false,
            footprint: false,
        };
        for source in sources {
            stacforge_core::package::check_readable(source)?;
            if self.in_place {
                header_profile(source, self.native_headers())?;
            } else {
                inspect(source, &header_only)?;
            }
        }
        Ok(())
    }

    fn convert(&self, job: &Job) -> Result<Vec<Artifact>> {
        if self.in_place {
            return self.describe_in_place(job);
        }
        let src = &job.source().path;
        let header_only = InspectOptions {
            statistics: false,
            footprint: false,
        };
        // Refuse unusable sources (and a missing datetime) before any work.
        let source_profile = inspect(src, &header_only)?;
        item::resolve_timing(job, source_profile.timing)?;

        let cog_path = job.workdir.join(format!("{}.tif", job.item_id));
        // The native writer counts the values as it writes: no second read.
        let (report, counts) = cog::write_cog_counted(src, &cog_path, &self.cog, true)?;
        let mut profile = stacforge_raster::inspect_counted(
            &cog_path,
            &InspectOptions::default(),
            counts.as_ref(),
        )?;
        profile.timing = source_profile.timing;

        let thumb_path = job.workdir.join(format!("{}.png", job.item_id));
        thumbnail::write_thumbnail(&cog_path, &thumb_path, &profile)?;

        let mut data = Artifact::from_file("data", &cog_path, COG_MEDIA_TYPE, &["data"])?;
        data.title = Some("Cloud-Optimized GeoTIFF".to_string());
        data.header_size = Some(report.header_size);
        data.raster = Some(profile);
        let mut thumb =
            Artifact::from_file("thumbnail", &thumb_path, PNG_MEDIA_TYPE, &["thumbnail"])?;
        thumb.title = Some("Thumbnail".to_string());
        Ok(vec![data, thumb])
    }

    fn describe(&self, job: &Job, artifacts: &[Artifact]) -> Result<stac::Item> {
        let source_name = job
            .source()
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let lineage = if self.in_place {
            format!("Described in place from {source_name} by stacforge's geotiff package (not converted).")
        } else {
            format!(
            "Converted from {source_name} to a Cloud-Optimized GeoTIFF ({} compression{}) by stacforge's geotiff package.",
            self.cog.compression,
            match (&self.cog.target_crs, self.cog.web_optimized) {
                (Some(crs), _) => format!(", reprojected to {crs}"),
                (None, true) => ", reprojected to WebMercatorQuad".to_string(),
                (None, false) => String::new(),
            }
        )
        };
        item::raster_item(job, artifacts, &lineage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_collection_parses() {
        let c = GeoTiff::default().collection().unwrap();
        assert_eq!(c.id, "geotiff");
        assert!(c.item_assets.contains_key("data"));
    }
}
