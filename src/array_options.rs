//! Options of the array packages (`netcdf`, `netcdf-zarr`, `netcdf-refs`),
//! shared by `stacforge run <package>` and the `stacforge netcdf` verbs, so
//! both take the same flags.

use crate::options::CogArgs;
use stacforge_array::recipe::Recipe;
use stacforge_array::refs::RefOptions;
use stacforge_array::zarr::{Compression, ZarrVersion};
use std::collections::BTreeMap;

/// A date range selecting the sources to use.
#[derive(Debug, Clone, clap::Args)]
pub struct DateRange {
    /// Use only sources with a time step at or after this date (RFC 3339 or YYYY-MM-DD).
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    /// Use only sources with a time step at or before this date.
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub to: Option<chrono::DateTime<chrono::Utc>>,
}

impl DateRange {
    /// The range, open ends filled with the earliest and latest instants.
    pub fn range(&self) -> Option<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)> {
        match (self.from, self.to) {
            (None, None) => None,
            (from, to) => Some((
                from.unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC),
                to.unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC),
            )),
        }
    }
}

fn parse_date(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight").and_utc())
        .map_err(|_| format!("`{text}` is not an RFC 3339 date-time or YYYY-MM-DD"))
}

fn parse_chunk(text: &str) -> Result<(String, u64), String> {
    let (dim, len) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not DIM=LENGTH"))?;
    let len: u64 = len
        .parse()
        .map_err(|_| format!("`{len}` is not a chunk length"))?;
    if len == 0 {
        return Err(format!("chunk length of `{dim}` must be at least 1"));
    }
    Ok((dim.to_string(), len))
}

/// Which sources and variables a recipe combines, and along what.
#[derive(Debug, Clone, clap::Args)]
pub struct SeriesArgs {
    #[command(flatten)]
    pub dates: DateRange,
    /// Dimension to concatenate along (default: the record dimension, else time).
    #[arg(long, value_name = "DIM")]
    pub concat_dim: Option<String>,
    /// Group to read in NetCDF-4 files with groups.
    #[arg(long)]
    pub group: Option<String>,
    /// Variables to write, comma-separated (their coordinates and grid
    /// mappings come along); default: every numeric variable.
    #[arg(long, value_delimiter = ',')]
    pub variables: Vec<String>,
    /// Leave out sources that cannot be read or do not match the others,
    /// listing each with the reason (exit code 1), instead of refusing the
    /// whole batch.
    #[arg(long)]
    pub skip_bad: bool,
    /// Item id (default: the output's name without extension; for
    /// `stacforge run`, what the sources' names share).
    #[arg(long)]
    pub item_id: Option<String>,
}

impl SeriesArgs {
    /// The recipe's source selection, without sources.
    pub fn recipe(&self) -> Recipe {
        Recipe {
            concat_dim: self.concat_dim.clone(),
            group: self.group.clone(),
            variables: self.variables.clone(),
            time_range: self.dates.range(),
            skip_bad: self.skip_bad,
            ..Recipe::default()
        }
    }
}

/// How a Zarr store is written.
#[derive(Debug, Clone, clap::Args)]
pub struct ZarrArgs {
    #[command(flatten)]
    pub series: SeriesArgs,
    #[command(flatten)]
    pub writing: ZarrWriting,
}

/// Chunking, format and compression of a Zarr store.
#[derive(Debug, Clone, clap::Args)]
pub struct ZarrWriting {
    /// Chunk lengths per dimension, e.g. time=24,lat=180 (others planned
    /// from --target-chunk-mb).
    #[arg(long, value_delimiter = ',', value_parser = parse_chunk)]
    pub chunks: Vec<(String, u64)>,
    /// Target uncompressed chunk size in MB.
    #[arg(long, default_value_t = 16.0)]
    pub target_chunk_mb: f64,
    /// Zarr format version: 3 or 2.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(2..=3))]
    pub zarr_version: u8,
    /// Compression: zstd[:LEVEL] (default zstd:3), zlib[:LEVEL] or none.
    #[arg(long, default_value = "zstd", value_parser = Compression::parse)]
    pub compression: Compression,
    /// Unpack values while writing: scale_factor/add_offset applied, fill and
    /// missing values as NaN (default: kept as encoding, as stored).
    #[arg(long)]
    pub decode: bool,
}

impl ZarrArgs {
    /// The recipe, without sources.
    pub fn recipe(&self) -> anyhow::Result<Recipe> {
        self.writing.apply(self.series.recipe())
    }

    /// The `netcdf-zarr` package with these options.
    pub fn package(&self) -> anyhow::Result<stacforge_netcdf::NetCdfZarr> {
        Ok(stacforge_netcdf::NetCdfZarr {
            recipe: self.recipe()?,
            item_id: self.series.item_id.clone(),
        })
    }
}

impl ZarrWriting {
    /// `recipe` with these settings.
    pub fn apply(&self, recipe: Recipe) -> anyhow::Result<Recipe> {
        if self.target_chunk_mb.is_nan() || self.target_chunk_mb <= 0.0 {
            anyhow::bail!("--target-chunk-mb must be positive");
        }
        Ok(Recipe {
            chunks: self.chunks.iter().cloned().collect::<BTreeMap<_, _>>(),
            target_chunk_bytes: (self.target_chunk_mb * 1e6) as u64,
            version: if self.zarr_version == 2 {
                ZarrVersion::V2
            } else {
                ZarrVersion::V3
            },
            compression: self.compression,
            decode: self.decode,
            ..recipe
        })
    }
}

/// How references are written.
#[derive(Debug, Clone, clap::Args)]
pub struct RefsArgs {
    #[command(flatten)]
    pub series: SeriesArgs,
    /// Reference format: json (kerchunk version 1), parquet (fsspec's
    /// LazyReferenceMapper layout, for collections with very many chunks),
    /// or icechunk (virtual chunk references in an Icechunk repository, one
    /// commit per write or append; `netcdf to-refs` only).
    #[arg(long, default_value = "json", value_parser = ["json", "parquet", "icechunk"])]
    pub format: String,
    /// Rows per Parquet file (with --format parquet).
    #[arg(long, default_value_t = 10_000)]
    pub record_size: usize,
    #[command(flatten)]
    pub writing: RefWriting,
}

/// What references inline and where they point.
#[derive(Debug, Clone, clap::Args)]
pub struct RefWriting {
    /// Variables up to this many bytes are stored inline.
    #[arg(long, default_value_t = 500)]
    pub inline_threshold: u64,
    /// Variables always stored inline, comma-separated (e.g. lat,lon,time).
    #[arg(long, value_delimiter = ',')]
    pub loadable_vars: Vec<String>,
    /// Where readers find the files: each chunk's URL becomes PREFIX/<file name>
    /// (default: the files' absolute paths).
    #[arg(long, value_name = "PREFIX")]
    pub url_prefix: Option<String>,
}

impl RefsArgs {
    /// How references are built.
    pub fn options(&self) -> RefOptions {
        self.writing.options()
    }
}

impl RefWriting {
    /// How references are built.
    pub fn options(&self) -> RefOptions {
        RefOptions {
            inline_threshold: self.inline_threshold,
            loadable: self.loadable_vars.clone(),
            url_prefix: self.url_prefix.clone(),
        }
    }
}

impl RefsArgs {
    /// Whether a Parquet reference set is written.
    pub fn parquet(&self) -> bool {
        self.format == "parquet"
    }

    /// The `netcdf-refs` package with these options.
    pub fn package(&self) -> stacforge_netcdf::NetCdfRefs {
        stacforge_netcdf::NetCdfRefs {
            recipe: self.series.recipe(),
            options: self.options(),
            parquet_record_size: self.parquet().then_some(self.record_size),
            item_id: self.series.item_id.clone(),
        }
    }
}

/// How 2-D slices become COGs.
#[derive(Debug, Clone, clap::Args)]
pub struct SliceArgs {
    #[command(flatten)]
    pub cog: CogArgs,
    /// Variables to convert, comma-separated (default: every variable on an x/y grid).
    #[arg(long, value_delimiter = ',')]
    pub variables: Vec<String>,
    /// Shift 0–360 longitudes to −180–180 (the COG then spans −180–180).
    #[arg(long)]
    pub roll_longitude: bool,
    /// The group holding the variables (NetCDF-4/HDF5), e.g. `Grid` for GPM IMERG.
    #[arg(long)]
    pub group: Option<String>,
}

impl SliceArgs {
    /// The `netcdf` package with these options.
    pub fn package(&self) -> anyhow::Result<stacforge_netcdf::NetCdf> {
        Ok(stacforge_netcdf::NetCdf::new(
            self.cog.to_options()?,
            stacforge_netcdf::SliceOptions {
                variables: self.variables.clone(),
                roll_longitude: self.roll_longitude,
                group: self.group.clone(),
            },
        ))
    }
}

/// Options of the cmip6 package.
#[derive(Debug, Clone, clap::Args)]
pub struct Cmip6Args {
    /// What each dataset becomes: zarr (a store), json or parquet (kerchunk
    /// references to the files' own chunks; parquet in fsspec's layout).
    #[arg(long, default_value = "zarr", value_parser = ["zarr", "json", "parquet"])]
    pub format: String,
    /// Rows per Parquet file (with --format parquet).
    #[arg(long, default_value_t = 10_000)]
    pub record_size: usize,
    /// Keep only the cells whose centres are in this box: WEST,SOUTH,EAST,NORTH
    /// in degrees (−180–180 or 0–360, either way for the data's grid;
    /// curvilinear grids: the smallest index box holding those cells).
    #[arg(long, value_name = "W,S,E,N", value_parser = parse_bbox, allow_hyphen_values = true)]
    pub bbox: Option<[f64; 4]>,
    /// Keep only the time steps from START to END (YYYY-MM-DD[THH:MM[:SS]],
    /// in the data's own calendar: 2005-02-30 is a day of a 360-day year;
    /// a bare END date includes that day).
    #[arg(long, value_name = "START/END")]
    pub time: Option<String>,
    /// Keep only the vertical levels from LO to HI, in the vertical
    /// coordinate's units (e.g. 85000/50000 Pa).
    #[arg(long, value_name = "LO/HI", allow_hyphen_values = true)]
    pub level: Option<String>,
    #[command(flatten)]
    pub zarr: ZarrWriting,
    #[command(flatten)]
    pub refs: RefWriting,
}

fn parse_bbox(text: &str) -> Result<[f64; 4], String> {
    let values: Vec<f64> = text
        .split(',')
        .map(|v| v.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("`{text}` is not WEST,SOUTH,EAST,NORTH"))?;
    <[f64; 4]>::try_from(values).map_err(|_| format!("`{text}` is not four numbers"))
}

impl Cmip6Args {
    /// The `cmip6` package with these options.
    pub fn package(&self) -> anyhow::Result<stacforge_cmip6::Cmip6> {
        let format = match self.format.as_str() {
            "json" => stacforge_cmip6::Format::Json,
            "parquet" => stacforge_cmip6::Format::Parquet(self.record_size),
            _ => stacforge_cmip6::Format::Zarr,
        };
        use stacforge_array::subset::{parse_date, Selection};
        let pair = |text: &str, what: &str| -> anyhow::Result<(String, String)> {
            let (a, b) = text
                .split_once('/')
                .ok_or_else(|| anyhow::anyhow!("--{what} `{text}` is not START/END"))?;
            Ok((a.to_string(), b.to_string()))
        };
        let time = match &self.time {
            Some(t) => {
                let (a, b) = pair(t, "time")?;
                let start = parse_date(&a, false).map_err(|e| anyhow::anyhow!("--time: {e}"))?;
                let end = parse_date(&b, true).map_err(|e| anyhow::anyhow!("--time: {e}"))?;
                Some((start, end))
            }
            None => None,
        };
        let level = match &self.level {
            Some(l) => {
                let (a, b) = pair(l, "level")?;
                let number = |v: &str| {
                    v.parse::<f64>()
                        .map_err(|_| anyhow::anyhow!("--level: `{v}` is not a number"))
                };
                Some((number(&a)?, number(&b)?))
            }
            None => None,
        };
        Ok(stacforge_cmip6::Cmip6::new(
            self.zarr.apply(Recipe::default())?,
            format,
            self.refs.options(),
        )
        .with_selection(Selection {
            bbox: self.bbox,
            time,
            level,
        }))
    }
}
