//! The dataset packages this binary knows, in one explicit list.

use stacforge_core::Package;
use stacforge_raster::CogOptions;

/// Every package, configured with the COG options given on the command line.
pub fn packages(cog: &CogOptions) -> Vec<Box<dyn Package>> {
    vec![
        Box::new(stacforge_geotiff::GeoTiff::new(cog.clone())),
        Box::new(stacforge_modis::Modis::new(cog.clone())),
        Box::new(stacforge_netcdf::Imerg::new(cog.clone())),
    ]
}

/// The package with this id, if there is one.
pub fn find(id: &str) -> Option<Box<dyn Package>> {
    packages(&CogOptions::default())
        .into_iter()
        .find(|p| p.id() == id)
}
