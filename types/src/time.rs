//! UTC timestamps as users see them (snapshot names and listings, cluster
//! status) and datetimes as Qdrant reads them, on `chrono`.

use std::time::SystemTime;

use chrono::{DateTime, NaiveDateTime, Utc};

/// A moment in UTC, to the second, as users are shown it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcDateTime(DateTime<Utc>);

impl UtcDateTime {
    pub fn now() -> Self {
        Self::from_system_time(SystemTime::now())
    }

    pub fn from_system_time(time: SystemTime) -> Self {
        let at = DateTime::<Utc>::from(time);
        Self::from_unix_seconds(at.timestamp())
    }

    /// Out-of-range seconds (beyond chrono's ±262,000 years) read as the epoch.
    pub fn from_unix_seconds(secs: i64) -> Self {
        UtcDateTime(DateTime::from_timestamp(secs, 0).unwrap_or_default())
    }

    /// Seconds since the Unix epoch.
    pub fn unix_seconds(&self) -> i64 {
        self.0.timestamp()
    }

    /// Reads the [`iso_local`](Self::iso_local) shape back.
    pub fn parse_iso_local(text: &str) -> Option<Self> {
        let at =
            NaiveDateTime::parse_from_str(text.trim_end_matches('Z'), "%Y-%m-%dT%H:%M:%S").ok()?;
        Some(UtcDateTime(at.and_utc()))
    }

    /// `2026-11-29T03:41:21Z`.
    pub fn rfc3339(&self) -> String {
        self.0.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    }

    /// `2026-11-29T03:41:21`, the `creation_time` shape of Qdrant's snapshot listings.
    pub fn iso_local(&self) -> String {
        self.0.format("%Y-%m-%dT%H:%M:%S").to_string()
    }

    /// `2026-11-29-03-41-21`, as Qdrant puts it in snapshot names.
    pub fn file_stamp(&self) -> String {
        self.0.format("%Y-%m-%d-%H-%M-%S").to_string()
    }
}

/// Seconds since the Unix epoch of a datetime as Qdrant accepts them in
/// payloads and filters: RFC 3339 (`2023-02-08T10:49:00Z`, any offset,
/// fractions of a second), or without a zone (UTC) with `T` or a space, or a
/// bare date.
pub fn parse_datetime(text: &str) -> Option<f64> {
    use chrono::NaiveDate;
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
