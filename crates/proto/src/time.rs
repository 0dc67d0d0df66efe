//! `google.protobuf.Duration` and `Timestamp` to and from the numbers the domain keeps (seconds
//! or milliseconds as `f64`, RFC 3339 text): the one place that converts them.

use prost_types::{Duration, Timestamp};

/// `seconds` as a Duration, to the nanosecond; saturating at the type's range (±10,000 years),
/// and 0 for a value that is not a number.
pub fn from_secs(seconds: f64) -> Duration {
    const MAX: f64 = 315_576_000_000.0;
    if seconds.is_nan() {
        return Duration::default();
    }
    let s = seconds.clamp(-MAX, MAX);
    let whole = s.trunc();
    // Same sign as `whole`, as the type requires; |nanos| < 1e9 after rounding is kept so.
    let nanos = ((s - whole) * 1e9)
        .round()
        .clamp(-999_999_999.0, 999_999_999.0);
    Duration {
        seconds: whole as i64,
        nanos: nanos as i32,
    }
}

/// `ms` milliseconds as a Duration (see [`from_secs`]).
pub fn from_millis(ms: f64) -> Duration {
    from_secs(ms / 1e3)
}

/// A span of wall time as a Duration, saturating.
pub fn from_std(d: std::time::Duration) -> Duration {
    Duration::try_from(d).unwrap_or(Duration {
        seconds: i64::MAX,
        nanos: 999_999_999,
    })
}

/// `d` in seconds.
pub fn secs(d: &Duration) -> f64 {
    d.seconds as f64 + f64::from(d.nanos) / 1e9
}

/// `d` in milliseconds.
pub fn millis(d: &Duration) -> f64 {
    secs(d) * 1e3
}

/// An optional Duration in seconds: absent is 0, as the contract says wherever it is used.
pub fn secs_or_zero(d: Option<&Duration>) -> f64 {
    d.map_or(0.0, secs)
}

/// Seconds as an optional Duration: 0 (nothing) is absent, so proto3 JSON leaves it out rather
/// than print `"0s"` for "not known".
pub fn nonzero_secs(seconds: f64) -> Option<Duration> {
    (seconds != 0.0 && !seconds.is_nan()).then(|| from_secs(seconds))
}

/// An RFC 3339 time as a Timestamp; `None` when the text is not one.
pub fn timestamp(rfc3339: &str) -> Option<Timestamp> {
    rfc3339.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_and_milliseconds_round_trip() {
        let d = from_millis(264.5);
        assert_eq!((d.seconds, d.nanos), (0, 264_500_000));
        assert_eq!(millis(&d), 264.5);
        let d = from_secs(-1.25);
        assert_eq!((d.seconds, d.nanos), (-1, -250_000_000));
        assert_eq!(secs(&from_secs(95.5)), 95.5);
        assert_eq!(from_secs(f64::NAN), Duration::default());
        assert_eq!(from_secs(f64::INFINITY).seconds, 315_576_000_000);
        assert_eq!(nonzero_secs(0.0), None);
        assert_eq!(secs_or_zero(nonzero_secs(2.0).as_ref()), 2.0);
        assert_eq!(secs(&from_std(std::time::Duration::from_millis(1500))), 1.5);
    }

    #[test]
    fn timestamps_parse_rfc3339() {
        let t = timestamp("2026-01-02T03:04:05.5Z").unwrap();
        assert_eq!(t.nanos, 500_000_000);
        assert_eq!(timestamp("yesterday"), None);
    }
}
