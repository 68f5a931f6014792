//! CF conventions: time axes in every CF calendar, grid mappings to PROJ
//! definitions, and the spatial axes of a grid.

use crate::inventory::{Inventory, Variable};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

/// A CF calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Calendar {
    /// Mixed Julian/Gregorian (`standard`, `gregorian`): Julian before 1582-10-15.
    Standard,
    /// Gregorian rules extended before 1582.
    ProlepticGregorian,
    /// Julian rules throughout.
    Julian,
    /// Every year 365 days (`noleap`, `365_day`).
    NoLeap,
    /// Every year 366 days (`all_leap`, `366_day`).
    AllLeap,
    /// Twelve 30-day months (`360_day`).
    Day360,
}

impl Calendar {
    /// Parses a CF `calendar` attribute (case-insensitive); `None` for names
    /// CF does not define.
    pub fn parse(name: &str) -> Option<Calendar> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "standard" | "gregorian" | "" => Self::Standard,
            "proleptic_gregorian" => Self::ProlepticGregorian,
            "julian" => Self::Julian,
            "noleap" | "365_day" => Self::NoLeap,
            "all_leap" | "366_day" => Self::AllLeap,
            "360_day" => Self::Day360,
            _ => return None,
        })
    }

    /// Day number of a date in this calendar (days on a continuous count).
    fn day_number(self, y: i64, m: i64, d: i64) -> i64 {
        match self {
            Self::ProlepticGregorian => gregorian_jdn(y, m, d),
            Self::Julian => julian_jdn(y, m, d),
            Self::Standard => {
                if (y, m, d) >= (1582, 10, 15) {
                    gregorian_jdn(y, m, d)
                } else {
                    julian_jdn(y, m, d)
                }
            }
            Self::NoLeap => y * 365 + CUMULATIVE[(m - 1) as usize] + d - 1,
            Self::AllLeap => y * 366 + CUMULATIVE_LEAP[(m - 1) as usize] + d - 1,
            Self::Day360 => y * 360 + (m - 1) * 30 + d - 1,
        }
    }

    /// The date of a day number.
    fn date(self, n: i64) -> (i64, i64, i64) {
        match self {
            Self::ProlepticGregorian => gregorian_from_jdn(n),
            Self::Julian => julian_from_jdn(n),
            Self::Standard => {
                if n >= 2_299_161 {
                    gregorian_from_jdn(n)
                } else {
                    julian_from_jdn(n)
                }
            }
            Self::NoLeap => from_fixed_year(n, 365, &CUMULATIVE),
            Self::AllLeap => from_fixed_year(n, 366, &CUMULATIVE_LEAP),
            Self::Day360 => {
                let (y, r) = (n.div_euclid(360), n.rem_euclid(360));
                (y, r / 30 + 1, r % 30 + 1)
            }
        }
    }
}

const CUMULATIVE: [i64; 13] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365];
const CUMULATIVE_LEAP: [i64; 13] = [0, 31, 60, 91, 121, 152, 182, 213, 244, 274, 305, 335, 366];

fn from_fixed_year(n: i64, len: i64, cumulative: &[i64; 13]) -> (i64, i64, i64) {
    let (y, r) = (n.div_euclid(len), n.rem_euclid(len));
    let m = cumulative
        .iter()
        .rposition(|&c| c <= r)
        .unwrap_or(0)
        .min(11);
    (y, m as i64 + 1, r - cumulative[m] + 1)
}

fn gregorian_jdn(y: i64, m: i64, d: i64) -> i64 {
    let a = (14 - m) / 12;
    let (y, m) = (y + 4800 - a, m + 12 * a - 3);
    d + (153 * m + 2) / 5 + 365 * y + y.div_euclid(4) - y.div_euclid(100) + y.div_euclid(400)
        - 32045
}

fn julian_jdn(y: i64, m: i64, d: i64) -> i64 {
    let a = (14 - m) / 12;
    let (y, m) = (y + 4800 - a, m + 12 * a - 3);
    d + (153 * m + 2) / 5 + 365 * y + y.div_euclid(4) - 32083
}

fn gregorian_from_jdn(n: i64) -> (i64, i64, i64) {
    let a = n + 32044;
    let b = (4 * a + 3).div_euclid(146_097);
    let c = a - 146_097 * b / 4;
    let d = (4 * c + 3) / 1461;
    let e = c - 1461 * d / 4;
    let m = (5 * e + 2) / 153;
    (
        100 * b + d - 4800 + m / 10,
        m + 3 - 12 * (m / 10),
        e - (153 * m + 2) / 5 + 1,
    )
}

fn julian_from_jdn(n: i64) -> (i64, i64, i64) {
    let c = n + 32082;
    let d = (4 * c + 3).div_euclid(1461);
    let e = c - 1461 * d / 4;
    let m = (5 * e + 2) / 153;
    (
        d - 4800 + m / 10,
        m + 3 - 12 * (m / 10),
        e - (153 * m + 2) / 5 + 1,
    )
}

/// A date and time in some calendar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CfDateTime {
    #[allow(missing_docs)]
    pub year: i64,
    #[allow(missing_docs)]
    pub month: u32,
    #[allow(missing_docs)]
    pub day: u32,
    /// Seconds since midnight.
    pub seconds: f64,
}

impl CfDateTime {
    /// The nearest real (proleptic Gregorian, UTC) instant. Calendar days
    /// that do not exist there (30 February in a 360-day calendar) are moved
    /// to the last day of the month.
    pub fn to_utc(&self) -> Option<DateTime<Utc>> {
        let year = i32::try_from(self.year).ok()?;
        let mut day = self.day;
        let date = loop {
            if let Some(date) = NaiveDate::from_ymd_opt(year, self.month, day) {
                break date;
            }
            if day <= 28 {
                return None;
            }
            day -= 1;
        };
        let micros = (self.seconds * 1e6).round() as i64;
        let time = date.and_hms_opt(0, 0, 0)? + chrono::Duration::microseconds(micros);
        Some(time.and_utc())
    }
}

impl std::fmt::Display for CfDateTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.seconds.round() as i64;
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year,
            self.month,
            self.day,
            s / 3600,
            s / 60 % 60,
            s % 60
        )
    }
}

/// CF time units (`<unit> since <epoch>`) with their calendar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeUnits {
    /// Seconds per unit.
    pub unit: f64,
    /// The epoch's day number in the calendar.
    epoch_day: i64,
    /// The epoch's seconds since midnight (after any time-zone offset).
    epoch_seconds: f64,
    /// The calendar.
    pub calendar: Calendar,
}

impl TimeUnits {
    /// Parses `units` such as `hours since 1800-01-01`,
    /// `days since 1978-01-01 12:00:00`, `seconds since 1970-01-01T00:00:00Z`
    /// or `hours since 1-1-1 00:00:0.0`, in `calendar` (CF's default,
    /// `standard`, when `None`).
    pub fn parse(units: &str, calendar: Option<&str>) -> Result<TimeUnits, String> {
        let calendar = match calendar {
            None => Calendar::Standard,
            Some(c) => Calendar::parse(c).ok_or_else(|| format!("unknown calendar `{c}`"))?,
        };
        let (unit, epoch) = units
            .split_once(" since ")
            .ok_or_else(|| format!("units `{units}` are not `<unit> since <date>`"))?;
        let unit = match unit.trim().to_ascii_lowercase().as_str() {
            "days" | "day" | "d" => 86_400.0,
            "hours" | "hour" | "hr" | "hrs" | "h" => 3_600.0,
            "minutes" | "minute" | "min" | "mins" => 60.0,
            "seconds" | "second" | "sec" | "secs" | "s" => 1.0,
            "milliseconds" | "millisecond" | "msec" | "ms" => 1e-3,
            "microseconds" | "microsecond" | "usec" | "us" => 1e-6,
            "weeks" | "week" => 604_800.0,
            other => return Err(format!("unknown time unit `{other}` in `{units}`")),
        };
        let (date, seconds) = parse_epoch(epoch.trim())
            .ok_or_else(|| format!("cannot read the epoch `{}` of `{units}`", epoch.trim()))?;
        let (y, m, d) = date;
        if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
            return Err(format!("the epoch of `{units}` is not a date"));
        }
        let day = calendar.day_number(y, m, d);
        let (day, seconds) = (
            day + seconds.div_euclid(86_400.0) as i64,
            seconds.rem_euclid(86_400.0),
        );
        Ok(TimeUnits {
            unit,
            epoch_day: day,
            epoch_seconds: seconds,
            calendar,
        })
    }

    /// The date and time of an encoded value.
    pub fn decode(&self, value: f64) -> Option<CfDateTime> {
        if !value.is_finite() {
            return None;
        }
        let total = self.epoch_seconds + value * self.unit;
        let days = total.div_euclid(86_400.0);
        let seconds = total - days * 86_400.0;
        let (year, month, day) = self.calendar.date(self.epoch_day + days as i64);
        Some(CfDateTime {
            year,
            month: month as u32,
            day: day as u32,
            seconds: (seconds * 1e6).round() / 1e6,
        })
    }

    /// The value encoding a date and time.
    pub fn encode(&self, t: &CfDateTime) -> f64 {
        let day = self
            .calendar
            .day_number(t.year, i64::from(t.month), i64::from(t.day));
        ((day - self.epoch_day) as f64 * 86_400.0 + t.seconds - self.epoch_seconds) / self.unit
    }
}

/// `[-]Y-M-D[( |T)H[:M[:S[.f]]]][Z| UTC| ±HH[:MM]]` → ((y, m, d), seconds).
fn parse_epoch(text: &str) -> Option<((i64, i64, i64), f64)> {
    let text = text.trim_end_matches(" UTC").trim_end_matches('Z').trim();
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let split = rest.find([' ', 'T']).unwrap_or(rest.len());
    let (date, mut time) = rest.split_at(split);
    let mut parts = date.split('-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let d: i64 = parts.next().unwrap_or("1").parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    time = time.trim_start_matches(['T', ' ']).trim();
    let mut offset = 0.0;
    // A time-zone offset after the time: "+0:00", "-05:00", " +01".
    if let Some(pos) = time.rfind(['+', '-']).filter(|&p| p > 0) {
        let (t, zone) = time.split_at(pos);
        let sign = if zone.starts_with('-') { -1.0 } else { 1.0 };
        let mut hm = zone[1..].split(':');
        let h: f64 = hm.next()?.trim().parse().ok()?;
        let mm: f64 = hm.next().unwrap_or("0").trim().parse().ok()?;
        offset = sign * (h * 3600.0 + mm * 60.0);
        time = t.trim();
    } else if let Some(t) = time.strip_suffix("UTC") {
        time = t.trim();
    }
    let mut seconds = 0.0;
    if !time.is_empty() {
        let mut hms = time.split(':');
        let h: f64 = hms.next()?.parse().ok()?;
        let mi: f64 = hms.next().unwrap_or("0").parse().ok()?;
        let s: f64 = hms.next().unwrap_or("0").parse().ok()?;
        seconds = h * 3600.0 + mi * 60.0 + s;
    }
    Some(((if negative { -y } else { y }, m, d), seconds - offset))
}

/// Whether a variable is a time coordinate: `units` of the form
/// Whether two values of the encoding attribute `key` mean the same: equal,
/// or for `calendar` two names of one CF calendar (`gregorian` is
/// `standard`, which is also what an absent calendar means), and for time
/// `units` the same unit and epoch however written (`days since 1800-01-01`
/// and `days since 1800-01-01 00:00:00`).
pub fn same_encoding(key: &str, a: Option<&Value>, b: Option<&Value>) -> bool {
    if a == b {
        return true;
    }
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    match key {
        "calendar" => {
            let calendar = |v: Option<&Value>| match v {
                None => Some(Calendar::Standard),
                Some(_) => text(v).as_deref().and_then(Calendar::parse),
            };
            calendar(a).is_some_and(|c| Some(c) == calendar(b))
        }
        "units" => match (text(a), text(b)) {
            (Some(x), Some(y)) if x.contains(" since ") && y.contains(" since ") => {
                match (TimeUnits::parse(&x, None), TimeUnits::parse(&y, None)) {
                    (Ok(p), Ok(q)) => p == q,
                    _ => false,
                }
            }
            _ => false,
        },
        _ => false,
    }
}

/// `<unit> since <date>`, or `axis = T` / `standard_name = time`.
pub fn is_time(var: &Variable) -> bool {
    var.attr_str("units").is_some_and(|u| u.contains(" since "))
        || var.attr_str("axis") == Some("T")
        || var.attr_str("standard_name") == Some("time")
}

/// The decoded time axis of a variable.
pub fn time_axis(var: &Variable, values: &[f64]) -> Result<Vec<CfDateTime>, String> {
    let units = var
        .attr_str("units")
        .ok_or_else(|| "it has no `units`".to_string())?;
    let units = TimeUnits::parse(units, var.attr_str("calendar"))?;
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            units
                .decode(v)
                .ok_or_else(|| format!("value {v} at index {i} is not a time"))
        })
        .collect()
}

/// Which horizontal axis a 1-D coordinate variable is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// Longitude or projected x.
    X,
    /// Latitude or projected y.
    Y,
}

/// The horizontal axis a 1-D variable describes, from `axis`,
/// `standard_name` or `units`.
pub fn horizontal_axis(var: &Variable) -> Option<Axis> {
    if var.dims.len() != 1 {
        return None;
    }
    let standard = var.attr_str("standard_name").unwrap_or_default();
    let units = var.attr_str("units").unwrap_or_default();
    match var.attr_str("axis") {
        Some("X") => return Some(Axis::X),
        Some("Y") => return Some(Axis::Y),
        _ => {}
    }
    if matches!(
        standard,
        "longitude" | "projection_x_coordinate" | "grid_longitude"
    ) || units.starts_with("degrees_east")
        || units == "degree_east"
    {
        Some(Axis::X)
    } else if matches!(
        standard,
        "latitude" | "projection_y_coordinate" | "grid_latitude"
    ) || units.starts_with("degrees_north")
        || units == "degree_north"
    {
        Some(Axis::Y)
    } else {
        None
    }
}

/// The coordinate variable of a dimension: the variable of the same name,
/// or else the one 1-D variable along it that is a horizontal axis (as
/// `xgrid(x)` in NSIDC files).
pub fn coordinate<'a>(inventory: &'a Inventory, dim: &str) -> Option<&'a Variable> {
    inventory
        .vars
        .iter()
        .find(|v| v.name == dim && v.dims.len() == 1 && v.dims[0] == dim)
        .or_else(|| {
            let mut along = inventory.vars.iter().filter(|v| {
                v.dims.len() == 1
                    && v.dims[0] == dim
                    && (horizontal_axis(v).is_some() || is_time(v))
            });
            match (along.next(), along.next()) {
                (Some(v), None) => Some(v),
                _ => None,
            }
        })
}

/// Whether `name` is the coordinate variable of one of the dimensions.
pub fn is_coordinate(inventory: &Inventory, name: &str) -> bool {
    inventory
        .dims
        .iter()
        .any(|d| coordinate(inventory, &d.name).is_some_and(|c| c.name == name))
}

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

/// Summary of a regular horizontal axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RegularAxis {
    /// First cell centre.
    pub first: f64,
    /// Step between centres (negative when decreasing).
    pub step: f64,
    /// Number of cells.
    pub len: usize,
}

impl RegularAxis {
    /// Whether the axis decreases (as latitudes stored north to south do).
    pub fn decreasing(&self) -> bool {
        self.step < 0.0
    }
    /// The outer edges `(min, max)` of the cells.
    pub fn edges(&self) -> (f64, f64) {
        let last = self.first + self.step * (self.len as f64 - 1.0);
        let half = self.step.abs() / 2.0;
        (self.first.min(last) - half, self.first.max(last) + half)
    }
}

/// The axis as first value and step, when the values are evenly spaced
/// (to 0.1 % of the step); `None` for irregular axes.
pub fn regular(values: &[f64]) -> Option<RegularAxis> {
    if values.len() < 2 {
        return None;
    }
    let step = (values[values.len() - 1] - values[0]) / (values.len() - 1) as f64;
    if step == 0.0 || !step.is_finite() {
        return None;
    }
    let even = values
        .iter()
        .enumerate()
        .all(|(i, v)| (v - (values[0] + step * i as f64)).abs() <= step.abs() * 1e-3);
    even.then_some(RegularAxis {
        first: values[0],
        step,
        len: values.len(),
    })
}

/// Whether longitudes run over 0–360 rather than −180–180.
pub fn is_0_360(longitudes: &[f64]) -> bool {
    longitudes.iter().any(|&x| x > 180.0) && longitudes.iter().all(|&x| x >= 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(units: &str, calendar: Option<&str>, value: f64) -> String {
        TimeUnits::parse(units, calendar)
            .unwrap()
            .decode(value)
            .unwrap()
            .to_string()
    }

    #[test]
    fn standard_calendar_matches_known_dates() {
        // The air-series: 2013-01-01T00 is 1_867_128 hours after 1800-01-01.
        assert_eq!(
            date("hours since 1800-01-01", Some("standard"), 1_867_128.0),
            "2013-01-01T00:00:00"
        );
        assert_eq!(
            date("days since 1978-01-01 12:00:00", None, 16_326.0),
            "2022-09-13T12:00:00"
        );
        assert_eq!(
            date(
                "days since 1601-01-01 00:00:00",
                Some("gregorian"),
                153_766.0
            ),
            "2021-12-31T00:00:00"
        );
        assert_eq!(
            date("seconds since 1970-01-01T00:00:00Z", None, 86_400.5).len(),
            19
        );
    }

    #[test]
    fn mixed_calendar_jumps_from_julian_to_gregorian() {
        // 1582-10-04 (Julian) is followed by 1582-10-15 (Gregorian).
        assert_eq!(
            date("days since 1582-10-04", Some("standard"), 1.0),
            "1582-10-15T00:00:00"
        );
        assert_eq!(
            date("days since 1582-10-04", Some("proleptic_gregorian"), 1.0),
            "1582-10-05T00:00:00"
        );
        // "hours since 1-1-1": year 1 is Julian in the standard calendar.
        assert_eq!(
            date("hours since 1-1-1 00:00:0.0", None, 24.0 * 365.0),
            "0002-01-01T00:00:00"
        );
        assert_eq!(
            date("days since 2000-01-01", Some("julian"), 59.0),
            "2000-02-29T00:00:00"
        );
    }

    #[test]
    fn model_calendars() {
        assert_eq!(
            date("days since 2000-01-01", Some("noleap"), 59.0),
            "2000-03-01T00:00:00"
        );
        assert_eq!(
            date("days since 2001-01-01", Some("all_leap"), 59.0),
            "2001-02-29T00:00:00"
        );
        assert_eq!(
            date("days since 2000-01-01", Some("360_day"), 59.0),
            "2000-02-30T00:00:00"
        );
        assert_eq!(
            date("days since 2000-01-01", Some("360_day"), 360.0),
            "2001-01-01T00:00:00"
        );
        let t = TimeUnits::parse("days since 2000-01-01", Some("360_day")).unwrap();
        assert_eq!(
            t.decode(59.0).unwrap().to_utc().unwrap().to_rfc3339(),
            "2000-02-29T00:00:00+00:00"
        );
    }

    #[test]
    fn encode_inverts_decode_across_units() {
        let a = TimeUnits::parse("days since 2000-01-01", Some("noleap")).unwrap();
        let b = TimeUnits::parse("hours since 1990-06-01 06:00", Some("365_day")).unwrap();
        for v in [0.0, 1.25, 3650.5] {
            let t = a.decode(v).unwrap();
            assert!((a.encode(&b.decode(b.encode(&t)).unwrap()) - v).abs() < 1e-9);
        }
    }

    #[test]
    fn bad_units_are_named() {
        assert!(TimeUnits::parse("fortnights since 2000-01-01", None)
            .unwrap_err()
            .contains("fortnights"));
        assert!(TimeUnits::parse("days", None).is_err());
        assert!(TimeUnits::parse("days since 2000-01-01", Some("lunar"))
            .unwrap_err()
            .contains("lunar"));
        assert_eq!(
            date("days since 2000-01-01 00:00:00 +06:00", None, 0.0),
            "1999-12-31T18:00:00"
        );
    }

    #[test]
    fn regular_axes() {
        let lat: Vec<f64> = (0..5).map(|i| 75.0 - 2.5 * f64::from(i)).collect();
        let axis = regular(&lat).unwrap();
        assert!(axis.decreasing());
        assert_eq!(axis.edges(), (63.75, 76.25));
        assert!(regular(&[0.0, 1.0, 3.0]).is_none());
        assert!(is_0_360(&[0.125, 359.875]));
        assert!(!is_0_360(&[-179.875, 179.875]));
    }
}
