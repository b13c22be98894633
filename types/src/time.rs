//! Calendar formatting of UTC timestamps, shared by every service that shows
//! a time to users (snapshot names and listings, cluster status).

use std::time::{SystemTime, UNIX_EPOCH};

/// A moment in UTC, broken into calendar fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcDateTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl UtcDateTime {
    pub fn now() -> Self {
        Self::from_system_time(SystemTime::now())
    }

    pub fn from_system_time(time: SystemTime) -> Self {
        let secs = time
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs() as i64;
        Self::from_unix_seconds(secs)
    }

    pub fn from_unix_seconds(secs: i64) -> Self {
        let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        // Howard Hinnant's civil-from-days algorithm.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        UtcDateTime {
            year: yoe + era * 400 + i64::from(month <= 2),
            month,
            day,
            hour: (rem / 3600) as u32,
            minute: (rem % 3600 / 60) as u32,
            second: (rem % 60) as u32,
        }
    }

    /// Seconds since the Unix epoch.
    pub fn unix_seconds(&self) -> i64 {
        // Howard Hinnant's days-from-civil algorithm.
        let year = self.year - i64::from(self.month <= 2);
        let era = year.div_euclid(400);
        let yoe = year - era * 400;
        let month = i64::from(self.month);
        let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5
            + i64::from(self.day)
            - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
    }

    /// Reads the [`iso_local`](Self::iso_local) shape back.
    pub fn parse_iso_local(text: &str) -> Option<Self> {
        let (date, time) = text.split_once('T')?;
        let mut date = date.splitn(3, '-');
        let mut time = time.trim_end_matches('Z').splitn(3, ':');
        Some(UtcDateTime {
            year: date.next()?.parse().ok()?,
            month: date.next()?.parse().ok()?,
            day: date.next()?.parse().ok()?,
            hour: time.next()?.parse().ok()?,
            minute: time.next()?.parse().ok()?,
            second: time.next()?.parse().ok()?,
        })
    }

    /// `2026-11-29T03:41:21Z`.
    pub fn rfc3339(&self) -> String {
        format!("{}Z", self.iso_local())
    }

    /// `2026-11-29T03:41:21`, the `creation_time` shape of Qdrant's snapshot listings.
    pub fn iso_local(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// `2026-11-29-03-41-21`, as Qdrant puts it in snapshot names.
    pub fn file_stamp(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}-{:02}-{:02}-{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// Seconds since the Unix epoch of a datetime as Qdrant accepts them in
/// payloads and filters: RFC 3339 (`2023-02-08T10:49:00Z`, any offset,
/// fractions of a second), or without a zone (UTC) with `T` or a space, or a
/// bare date.
pub fn parse_datetime(text: &str) -> Option<f64> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    let zoned = ["%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z"];
    let micros = if let Some(t) = DateTime::parse_from_rfc3339(text).ok().or_else(|| {
        zoned
            .iter()
            .find_map(|f| DateTime::parse_from_str(text, f).ok())
    }) {
        t.timestamp_micros()
    } else if let Some(t) = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
    {
        t.and_utc().timestamp_micros()
    } else {
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()?
            .and_hms_opt(0, 0, 0)?
            .and_utc()
            .timestamp_micros()
    };
    Some(micros as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_fields_of_known_moments() {
        assert_eq!(
            UtcDateTime::from_unix_seconds(0).rfc3339(),
            "1970-01-01T00:00:00Z"
        );
        // 2024-02-29 12:34:56 UTC: a leap day.
        let t = UtcDateTime::from_unix_seconds(1_709_210_096);
        assert_eq!(t.iso_local(), "2024-02-29T12:34:56");
        assert_eq!(t.file_stamp(), "2024-02-29-12-34-56");
        assert_eq!(t.unix_seconds(), 1_709_210_096);
        assert_eq!(UtcDateTime::parse_iso_local("2024-02-29T12:34:56"), Some(t));
        for text in [
            "2024-02-29T12:34:56Z",
            "2024-02-29T14:34:56+02:00",
            "2024-02-29T12:34:56",
            "2024-02-29 12:34:56",
            "2024-02-29 14:34:56+0200",
        ] {
            assert_eq!(parse_datetime(text), Some(1_709_210_096.0), "{text}");
        }
        assert_eq!(
            parse_datetime("2024-02-29T12:34:56.5Z"),
            Some(1_709_210_096.5)
        );
        assert_eq!(parse_datetime("2024-02-29"), Some(1_709_164_800.0));
        assert_eq!(parse_datetime("2024-02-29 12:34"), Some(1_709_210_040.0));
        assert_eq!(parse_datetime("yesterday"), None);
    }
}
