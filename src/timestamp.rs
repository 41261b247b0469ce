//! Wall-clock timestamps as the CSV files and the review journal write them.

/// Now, in UTC, as RFC 3339 with seconds.
pub fn timestamp_now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Today's UTC date (YYYY-MM-DD), for model provenance.
pub fn utc_date() -> String {
    chrono::Utc::now().format("%Y-%m-%d").to_string()
}

/// Now, in UTC, compact enough for a file name (`20261126T184043Z`).
pub fn file_stamp_now() -> String {
    chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string()
}
