//! Command-line options shared by several verbs.

use stacforge_raster::{CogOptions, Compression, Engine, Predictor, Resampling};

/// How COGs are written.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "COG options")]
pub struct CogArgs {
    /// Tile compression: deflate, zstd, lzw, lzma, webp, jpeg, lerc, lerc_deflate, lerc_zstd, none.
    #[arg(long, default_value = "deflate")]
    pub compression: Compression,
    /// Compression level (deflate 1-12, zstd 1-22, lzma 0-9); GDAL's default if unset.
    #[arg(long)]
    pub level: Option<u8>,
    /// JPEG/WebP quality, 1-100 (GDAL's default: 75).
    #[arg(long)]
    pub quality: Option<u8>,
    /// LERC maximum error (0 = lossless).
    #[arg(long)]
    pub max_z_error: Option<f64>,
    /// Predictor: auto (horizontal for integers, floating-point for floats), none, horizontal, floating-point.
    #[arg(long, default_value = "auto")]
    pub predictor: Predictor,
    /// Tile size in pixels (multiple of 16, at least 128).
    #[arg(long, default_value_t = 512)]
    pub blocksize: u32,
    /// Overview resampling: nearest, bilinear, cubic, cubicspline, lanczos, average, mode, rms.
    #[arg(long, default_value = "nearest")]
    pub overview_resampling: Resampling,
    /// Resampling when reprojecting (same names as --overview-resampling).
    #[arg(long, default_value = "nearest")]
    pub resampling: Resampling,
    /// Reproject to this CRS (EPSG:4326, WKT, PROJ string).
    #[arg(long = "t-srs", value_name = "CRS")]
    pub t_srs: Option<String>,
    /// Reproject to EPSG:3857 with tiles aligned to WebMercatorQuad (for tile servers).
    #[arg(long)]
    pub web_optimized: bool,
    /// Nodata value to assign to the output (a number or nan); the source's otherwise.
    #[arg(long, allow_hyphen_values = true)]
    pub nodata: Option<f64>,
    /// Compression threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// COG writer: auto (stacforge's native writer where it supports the request, else GDAL's
    /// COG driver, with a note saying why), native (refuse what it does not support), gdal.
    #[arg(long, default_value = "auto")]
    pub engine: Engine,
}

impl CogArgs {
    /// The validated COG options.
    pub fn to_options(&self) -> anyhow::Result<CogOptions> {
        let options = CogOptions {
            compression: self.compression,
            level: self.level,
            quality: self.quality,
            max_z_error: self.max_z_error,
            predictor: self.predictor,
            blocksize: self.blocksize,
            overview_resampling: self.overview_resampling,
            warp_resampling: self.resampling,
            target_crs: self.t_srs.clone(),
            warp_extra: Vec::new(),
            web_optimized: self.web_optimized,
            nodata: self.nodata,
            threads: self.threads,
            engine: self.engine,
        };
        options.validate()?;
        Ok(options)
    }
}

/// How to reach object storage (credentials come from the environment).
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Object storage")]
pub struct StoreArgs {
    /// Endpoint of an S3-compatible server, e.g. http://127.0.0.1:9000 (path-style
    /// requests; plain HTTP allowed for http:// endpoints). Credentials and region
    /// come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION.
    #[arg(long, value_name = "URL", env = "STACFORGE_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// URL of an Azure Blob Storage account on another endpoint for az://
    /// locations, the account in the path, e.g. Azurite's
    /// http://127.0.0.1:10000/devstoreaccount1. The key comes from
    /// AZURE_STORAGE_ACCOUNT_KEY (or AZURE_STORAGE_SAS_KEY).
    #[arg(long, value_name = "URL", env = "STACFORGE_AZURE_ENDPOINT")]
    pub azure_endpoint: Option<String>,
}

impl StoreArgs {
    /// The catalog layer's store options.
    pub fn to_options(&self) -> stacforge_catalog::location::StoreOptions {
        stacforge_catalog::location::StoreOptions {
            s3_endpoint: self.s3_endpoint.clone(),
            azure_endpoint: self.azure_endpoint.clone(),
        }
    }
}
