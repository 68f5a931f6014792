//! The LP DAAC/NSIDC `.hdf.xml` sidecar (ECS `GranuleMetaDataFile`): the
//! granule's metadata as the archive distributes it beside the HDF file.
//! When present it fills what the file's own ECS metadata lacks, must agree
//! with it, and must describe this file (its `FileSize`); it is published as
//! the item's `metadata` asset.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use std::path::{Path, PathBuf};

/// What the sidecar says.
#[derive(Debug, Clone, PartialEq)]
pub struct Sidecar {
    /// Where it is.
    pub path: PathBuf,
    pub short_name: Option<String>,
    /// Collection version, three digits ("061").
    pub version: Option<String>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub horizontal_tile: Option<u32>,
    pub vertical_tile: Option<u32>,
    pub platform: Option<String>,
    pub production: Option<String>,
    /// The size it gives for the HDF file, when it lists it.
    pub file_size: Option<u64>,
}

/// The sidecar path of a granule: `<file>.xml` beside it.
pub fn path_of(hdf: &Path) -> PathBuf {
    let mut name = hdf.as_os_str().to_owned();
    name.push(".xml");
    PathBuf::from(name)
}

/// Reads the sidecar beside `hdf`, if there is one. A sidecar that cannot
/// be read or parsed as ECS granule metadata is reported as a warning
/// (the granule's own ECS metadata still describe it) and left out.
pub fn read(hdf: &Path) -> Option<Sidecar> {
    parse(hdf).unwrap_or_else(|message| {
        eprintln!("warning: {message}; the sidecar is left out");
        None
    })
}

fn parse(hdf: &Path) -> Result<Option<Sidecar>, String> {
    let path = path_of(hdf);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    // LP DAAC's sidecars declare the ECS DTD by URL; the declaration is
    // allowed (roxmltree never fetches anything) and the DTD unused.
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(&text, options)
        .map_err(|e| format!("{}: not valid XML: {e}", path.display()))?;
    let root = doc.root_element();
    if root.tag_name().name() != "GranuleMetaDataFile" {
        return Err(format!(
            "{}: not an ECS granule metadata file (root element <{}>)",
            path.display(),
            root.tag_name().name()
        ));
    }
    let text_of = |tag: &str| -> Option<String> {
        root.descendants()
            .find(|n| n.has_tag_name(tag))
            .and_then(|n| n.text())
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
    };
    let psa = |name: &str| -> Option<String> {
        root.descendants()
            .filter(|n| n.has_tag_name("PSA"))
            .find(|n| {
                n.children()
                    .any(|c| c.has_tag_name("PSAName") && c.text().map(str::trim) == Some(name))
            })
            .and_then(|n| n.children().find(|c| c.has_tag_name("PSAValue")))
            .and_then(|v| v.text())
            .map(|t| t.trim().to_string())
    };
    let instant = |date: &str, time: &str| -> Result<Option<DateTime<Utc>>, String> {
        let Some(d) = text_of(date) else {
            return Ok(None);
        };
        let d = NaiveDate::parse_from_str(&d, "%Y-%m-%d")
            .map_err(|e| format!("{}: <{date}> {d:?}: {e}", path.display()))?;
        let t = text_of(time).unwrap_or_else(|| "00:00:00".to_string());
        let t = NaiveTime::parse_from_str(&t, "%H:%M:%S%.f")
            .map_err(|e| format!("{}: <{time}> {t:?}: {e}", path.display()))?;
        Ok(Some(d.and_time(t).and_utc()))
    };
    let file_name = hdf
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let file_size = root
        .descendants()
        .filter(|n| n.has_tag_name("DataFileContainer"))
        .find(|n| {
            n.children().any(|c| {
                c.has_tag_name("DistributedFileName") && c.text().map(str::trim) == Some(&file_name)
            })
        })
        .and_then(|n| n.children().find(|c| c.has_tag_name("FileSize")))
        .and_then(|n| n.text())
        .and_then(|t| t.trim().parse().ok());
    Ok(Some(Sidecar {
        short_name: text_of("ShortName"),
        version: text_of("VersionID")
            .and_then(|v| v.parse::<u32>().ok())
            .map(|v| format!("{v:03}")),
        start: instant("RangeBeginningDate", "RangeBeginningTime")?,
        end: instant("RangeEndingDate", "RangeEndingTime")?,
        horizontal_tile: psa("HORIZONTALTILENUMBER").and_then(|v| v.parse().ok()),
        vertical_tile: psa("VERTICALTILENUMBER").and_then(|v| v.parse().ok()),
        platform: text_of("PlatformShortName"),
        production: text_of("ProductionDateTime"),
        file_size,
        path,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_granule_metadata() {
        let dir = std::env::temp_dir().join(format!("stacforge-sidecar-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let hdf = dir.join("MOD10A1.A2022033.h09v05.061.2022042050729.hdf");
        assert_eq!(read(&hdf), None, "no sidecar");
        std::fs::write(
            path_of(&hdf),
            r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE GranuleMetaDataFile SYSTEM "http://ecsinfo.gsfc.nasa.gov/ECSInfo/ecsmetadata/dtds/DPL/ECS/ScienceGranuleMetadata.dtd">
<GranuleMetaDataFile><GranuleURMetaData>
  <CollectionMetaData><ShortName>MOD10A1</ShortName><VersionID>61</VersionID></CollectionMetaData>
  <DataFiles><DataFileContainer>
    <DistributedFileName>MOD10A1.A2022033.h09v05.061.2022042050729.hdf</DistributedFileName>
    <FileSize>16420</FileSize>
  </DataFileContainer></DataFiles>
  <RangeDateTime><RangeEndingTime>23:59:59.999999</RangeEndingTime><RangeEndingDate>2022-02-02</RangeEndingDate>
    <RangeBeginningTime>00:00:00.000000</RangeBeginningTime><RangeBeginningDate>2022-02-02</RangeBeginningDate></RangeDateTime>
  <Platform><PlatformShortName>Terra</PlatformShortName></Platform>
  <PSAs><PSA><PSAName>HORIZONTALTILENUMBER</PSAName><PSAValue>9</PSAValue></PSA>
        <PSA><PSAName>VERTICALTILENUMBER</PSAName><PSAValue>5</PSAValue></PSA></PSAs>
</GranuleURMetaData></GranuleMetaDataFile>"#,
        )
        .unwrap();
        let s = read(&hdf).unwrap();
        assert_eq!(s.short_name.as_deref(), Some("MOD10A1"));
        assert_eq!(s.version.as_deref(), Some("061"));
        assert_eq!((s.horizontal_tile, s.vertical_tile), (Some(9), Some(5)));
        assert_eq!(s.file_size, Some(16420));
        assert_eq!(s.start.unwrap().to_rfc3339(), "2022-02-02T00:00:00+00:00");
        std::fs::write(path_of(&hdf), "<Other/>").unwrap();
        assert!(parse(&hdf)
            .unwrap_err()
            .contains("not an ECS granule metadata file"));
        assert_eq!(read(&hdf), None, "left out, with a warning");
        std::fs::write(path_of(&hdf), "<GranuleMetaDataFile><unclosed>").unwrap();
        assert!(parse(&hdf).unwrap_err().contains("not valid XML"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
