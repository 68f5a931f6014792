//! One module per verb.

pub mod catalog;
pub mod cogify;
pub mod create;
pub mod derive;
pub mod dry_run;
pub mod export;
pub mod finalize;
pub mod history;
pub mod info;
pub mod lineage;
pub mod list;
pub mod netcdf;
pub mod new_package;
pub mod publish;
pub mod validate;
