//! CF time: calendars, `<unit> since <epoch>` units, decoded instants, and
//! which encodings mean the same.

use crate::inventory::Variable;
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
    pub fn day_number(self, y: i64, m: i64, d: i64) -> i64 {
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
    pub fn date(self, n: i64) -> (i64, i64, i64) {
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
}
