//! Schema URLs of the STAC extensions stacforge writes.

/// Projection extension.
pub const PROJECTION: &str = "https://stac-extensions.github.io/projection/v2.0.0/schema.json";
/// Raster extension (for STAC 1.1 `bands`).
pub const RASTER: &str = "https://stac-extensions.github.io/raster/v2.0.0/schema.json";
/// Electro-optical extension.
pub const EO: &str = "https://stac-extensions.github.io/eo/v2.0.0/schema.json";
/// File info extension.
pub const FILE: &str = "https://stac-extensions.github.io/file/v2.1.0/schema.json";
/// Processing extension.
pub const PROCESSING: &str = "https://stac-extensions.github.io/processing/v1.2.0/schema.json";
/// Classification extension (classes and bit fields of categorical and QA rasters).
pub const CLASSIFICATION: &str =
    "https://stac-extensions.github.io/classification/v1.1.0/schema.json";
/// Scientific citation extension (DOI and citation of the data).
pub const SCIENTIFIC: &str = "https://stac-extensions.github.io/scientific/v1.0.0/schema.json";
/// Render extension (default visualisations for tile servers).
pub const RENDER: &str = "https://stac-extensions.github.io/render/v2.0.0/schema.json";
