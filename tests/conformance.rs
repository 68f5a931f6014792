//! The conformance kit (`stacforge_runner::conformance`) over every
//! registered package (`stacforge list`; tests/run.rs checks the list has
//! no package without fixtures), on the project's fixtures.

mod common;

use common::*;
use stacforge_runner::conformance::assert_package_conforms;
use std::path::PathBuf;

fn files(dir: &str, ext: &str, take: usize) -> Vec<PathBuf> {
    let mut all = fixture_files(dir, ext);
    all.truncate(take);
    all
}

#[test]
fn every_registered_package_conforms() {
    stacforge_raster::init();
    let schemas = schemas();
    let cog = stacforge_raster::CogOptions::default();
    let geotiff_sources = tifs(&fixtures().join("geotiff"));
    assert_package_conforms(
        &stacforge_geotiff::GeoTiff::new(cog.clone()),
        &geotiff_sources,
        schemas.as_deref(),
    );
    assert_package_conforms(
        &stacforge_geotiff::GeoTiff::in_place(),
        &geotiff_sources,
        schemas.as_deref(),
    );
    let mut modis = files("modis", "hdf", 3);
    modis.extend(
        files("modis", "hdf", 20)
            .into_iter()
            .filter(|p| p.to_string_lossy().contains("MOD10A1")),
    );
    modis.dedup();
    assert_package_conforms(
        &stacforge_modis::Modis::new(cog.clone()),
        &modis,
        schemas.as_deref(),
    );
    let mut imerg = files("imerg", "HDF5", 5);
    imerg.extend(files("imerg", "nc4", 5));
    assert_package_conforms(
        &stacforge_imerg::Imerg::new(cog.clone()),
        &imerg,
        schemas.as_deref(),
    );
    let series = files("netcdf", "nc", 3);
    assert_package_conforms(
        &stacforge_netcdf::NetCdf::new(cog, stacforge_netcdf::SliceOptions::default()),
        &series,
        schemas.as_deref(),
    );
    assert_package_conforms(
        &stacforge_netcdf::NetCdfZarr::default(),
        &series,
        schemas.as_deref(),
    );
    for parquet_record_size in [None, Some(100)] {
        assert_package_conforms(
            &stacforge_netcdf::NetCdfRefs {
                parquet_record_size,
                ..Default::default()
            },
            &series,
            schemas.as_deref(),
        );
    }
}
