//! CF conventions: time axes in every CF calendar, grid mappings to PROJ
//! definitions, and the spatial axes of a grid.

mod axes;
mod grid;
mod time;

pub use axes::*;
pub use grid::*;
pub use time::*;
