//! CF grid mappings turned into definitions GDAL/PROJ can read.

use crate::inventory::{Inventory, Variable};
use serde_json::Value;

/// A grid's horizontal reference system, as CF describes it: definitions
/// GDAL/PROJ can read, most authoritative first (`crs_wkt`, GDAL's
/// `spatial_ref`, an `srid`/`epsg_code` URN, a `proj4text`/`proj4`
/// string, then a PROJ string built from the CF grid-mapping parameters),
/// since real files carry WKT that GDAL refuses or parameters that
/// contradict their WKT.
#[derive(Debug, Clone, PartialEq)]
pub enum GridCrs {
    /// Longitude/latitude axes and no grid mapping (WGS 84: no definitions),
    /// or a `latitude_longitude` mapping.
    Geographic(Vec<String>),
    /// A projected grid.
    Projected(Vec<String>),
}

/// The reference system of a variable's grid, from its `grid_mapping`.
/// Errors name what cannot be expressed.
pub fn grid_crs(inventory: &Inventory, var: &Variable) -> Result<GridCrs, String> {
    let Some(name) = var.attr_str("grid_mapping") else {
        return Ok(GridCrs::Geographic(Vec::new()));
    };
    // "crs" or "crs: x y" (CF 1.7 extended form): the first word names it.
    let name = name.split([':', ' ']).next().unwrap_or(name);
    let mapping = inventory
        .var(name)
        .ok_or_else(|| format!("its grid_mapping `{name}` is not a variable of the file"))?;
    let mut candidates: Vec<String> = [
        "crs_wkt",
        "spatial_ref",
        "srid",
        "epsg_code",
        "proj4text",
        "proj4",
        "proj4_params",
    ]
    .iter()
    .filter_map(|key| mapping.attr_str(key))
    .map(|d| d.trim().to_string())
    .filter(|d| !d.is_empty())
    .collect();
    let geographic = mapping.attr_str("grid_mapping_name") == Some("latitude_longitude");
    match from_parameters(mapping, name) {
        Ok(d) => candidates.push(d),
        Err(e) if candidates.is_empty() => return Err(e),
        Err(_) => {}
    }
    Ok(if geographic {
        GridCrs::Geographic(candidates)
    } else {
        GridCrs::Projected(candidates)
    })
}

/// A PROJ string from the CF grid-mapping parameters.
fn from_parameters(mapping: &Variable, name: &str) -> Result<String, String> {
    let kind = mapping.attr_str("grid_mapping_name").ok_or_else(|| {
        format!("grid_mapping `{name}` has no grid_mapping_name, crs_wkt or spatial_ref")
    })?;
    let p = |key: &str| mapping.attr_f64(key);
    let get =
        |key: &str| p(key).ok_or_else(|| format!("grid_mapping `{name}` ({kind}) lacks `{key}`"));
    let false_origin = format!(
        " +x_0={} +y_0={}",
        p("false_easting").unwrap_or(0.0),
        p("false_northing").unwrap_or(0.0)
    );
    let parallels = || -> Result<String, String> {
        let value = mapping
            .attrs
            .get("standard_parallel")
            .ok_or_else(|| format!("grid_mapping `{name}` ({kind}) lacks `standard_parallel`"))?;
        let list: Vec<f64> = match value {
            Value::Array(a) => a.iter().filter_map(crate::inventory::number).collect(),
            v => crate::inventory::number(v).into_iter().collect(),
        };
        Ok(match list.as_slice() {
            [one] => format!(" +lat_1={one}"),
            [one, two, ..] => format!(" +lat_1={one} +lat_2={two}"),
            [] => {
                return Err(format!(
                    "grid_mapping `{name}` has an empty standard_parallel"
                ))
            }
        })
    };
    let definition = match kind {
        "latitude_longitude" => return Ok(format!("+proj=longlat{} +no_defs", ellipsoid(mapping))),
        "polar_stereographic" => {
            let lat0 = get("latitude_of_projection_origin")?;
            let lon0 = p("straight_vertical_longitude_from_pole")
                .or_else(|| p("longitude_of_projection_origin"))
                .ok_or_else(|| {
                    format!("grid_mapping `{name}` lacks straight_vertical_longitude_from_pole")
                })?;
            let scale = match (
                p("standard_parallel"),
                p("scale_factor_at_projection_origin"),
            ) {
                (Some(ts), _) => format!(" +lat_ts={ts}"),
                (None, Some(k)) => format!(" +k={k}"),
                (None, None) => " +k=1".to_string(),
            };
            format!("+proj=stere +lat_0={lat0} +lon_0={lon0}{scale}")
        }
        "lambert_conformal_conic" => format!(
            "+proj=lcc{} +lat_0={} +lon_0={}",
            parallels()?,
            get("latitude_of_projection_origin")?,
            get("longitude_of_central_meridian")?
        ),
        "albers_conical_equal_area" => format!(
            "+proj=aea{} +lat_0={} +lon_0={}",
            parallels()?,
            get("latitude_of_projection_origin")?,
            get("longitude_of_central_meridian")?
        ),
        "transverse_mercator" => format!(
            "+proj=tmerc +lat_0={} +lon_0={} +k={}",
            get("latitude_of_projection_origin")?,
            get("longitude_of_central_meridian")?,
            p("scale_factor_at_central_meridian").unwrap_or(1.0)
        ),
        "lambert_azimuthal_equal_area" => format!(
            "+proj=laea +lat_0={} +lon_0={}",
            get("latitude_of_projection_origin")?,
            get("longitude_of_projection_origin")?
        ),
        "geostationary" => format!(
            "+proj=geos +h={} +lon_0={} +sweep={}",
            get("perspective_point_height")?,
            get("longitude_of_projection_origin")?,
            mapping.attr_str("sweep_angle_axis").unwrap_or(
                match mapping.attr_str("fixed_angle_axis") {
                    Some("x") => "y",
                    _ => "x",
                }
            )
        ),
        "mercator" => format!(
            "+proj=merc +lon_0={}{}",
            get("longitude_of_projection_origin")?,
            match (
                p("standard_parallel"),
                p("scale_factor_at_projection_origin")
            ) {
                (Some(ts), _) => format!(" +lat_ts={ts}"),
                (None, k) => format!(" +k={}", k.unwrap_or(1.0)),
            }
        ),
        other => {
            return Err(format!(
                "grid_mapping `{name}` is `{other}`, which stacforge cannot express"
            ))
        }
    };
    Ok(format!(
        "{definition}{false_origin}{} +units=m +no_defs",
        ellipsoid(mapping)
    ))
}

fn ellipsoid(mapping: &Variable) -> String {
    let p = |key: &str| mapping.attr_f64(key);
    if let Some(r) = p("earth_radius") {
        return format!(" +R={r}");
    }
    let a = p("semi_major_axis").or_else(|| p("semimajor_radius"));
    let b = p("semi_minor_axis").or_else(|| p("semiminor_radius"));
    match (a, b, p("inverse_flattening")) {
        (Some(a), _, Some(rf)) if rf > 0.0 => format!(" +a={a} +rf={rf}"),
        (Some(a), Some(b), _) => format!(" +a={a} +b={b}"),
        (Some(a), None, _) => format!(" +R={a}"),
        _ => " +datum=WGS84".to_string(),
    }
}

/// Metres per unit of a projected coordinate's `units` (1000 for km).
pub fn metres_per_unit(units: Option<&str>) -> Option<f64> {
    match units.map(str::trim) {
        None | Some("m" | "meter" | "meters" | "metre" | "metres" | "1") => Some(1.0),
        Some("km" | "kilometer" | "kilometers" | "kilometre" | "kilometres") => Some(1000.0),
        _ => None,
    }
}
