//! When an item's data was acquired: an instant or a range.

use crate::{Error, Result};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use std::str::FromStr;

/// The temporal part of an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    /// A single instant (`datetime`).
    Instant(DateTime<Utc>),
    /// A range (`start_datetime`/`end_datetime`, with `datetime` null).
    Range(DateTime<Utc>, DateTime<Utc>),
}

impl Timing {
    /// Earliest instant covered.
    pub fn start(&self) -> DateTime<Utc> {
        match *self {
            Timing::Instant(t) | Timing::Range(t, _) => t,
        }
    }

    /// Latest instant covered.
    pub fn end(&self) -> DateTime<Utc> {
        match *self {
            Timing::Instant(t) | Timing::Range(_, t) => t,
        }
    }

    /// Parses the `TIFFTAG_DATETIME` form `YYYY:MM:DD HH:MM:SS` (taken as UTC).
    pub fn from_tiff_tag(value: &str) -> Option<Timing> {
        NaiveDateTime::parse_from_str(value.trim(), "%Y:%m:%d %H:%M:%S")
            .ok()
            .map(|t| Timing::Instant(t.and_utc()))
    }
}

impl From<Timing> for (DateTime<Utc>, DateTime<Utc>) {
    fn from(t: Timing) -> Self {
        (t.start(), t.end())
    }
}

fn parse_instant(value: &str) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    Err(Error::InvalidDatetime {
        value: value.to_string(),
        reason: "expected RFC 3339 (2021-06-01T10:30:00Z) or a date (2021-06-01)".to_string(),
    })
}

impl FromStr for Timing {
    type Err = Error;

    /// `2021-06-01T10:30:00Z`, `2021-06-01`, or `START/END` with either form.
    fn from_str(value: &str) -> Result<Timing> {
        match value.split_once('/') {
            None => parse_instant(value).map(Timing::Instant),
            Some((start, end)) => {
                let (start, end) = (parse_instant(start)?, parse_instant(end)?);
                if end < start {
                    return Err(Error::InvalidDatetime {
                        value: value.to_string(),
                        reason: "the end is before the start".to_string(),
                    });
                }
                Ok(Timing::Range(start, end))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_instants_ranges_and_tiff_tags() {
        let t: Timing = "2021-06-01T10:30:00+02:00".parse().unwrap();
        assert_eq!(t.start().to_rfc3339(), "2021-06-01T08:30:00+00:00");
        let r: Timing = "2021-06-01/2021-06-30".parse().unwrap();
        assert!(matches!(r, Timing::Range(_, _)));
        assert!("2021-06-30/2021-06-01".parse::<Timing>().is_err());
        assert!("yesterday".parse::<Timing>().is_err());
        let tag = Timing::from_tiff_tag("2019:03:04 05:06:07").unwrap();
        assert_eq!(tag.start().to_rfc3339(), "2019-03-04T05:06:07+00:00");
        assert!(Timing::from_tiff_tag("garbage").is_none());
    }
}
