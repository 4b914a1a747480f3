//! Times on the command line and in exports: RFC 3339 in UTC with microseconds
//! (`2026-12-07T08:53:49.123456Z`), and "that long ago" durations (`24h`, `90d`).

use std::time::{Duration, SystemTime};

/// Days from 1970-01-01 to the proleptic Gregorian date `y-m-d` (negative before).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    // Years counted from March, so that the leap day ends a year; eras of 400 years.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400); // [0, 399]
    let mp = i64::from((m + 9) % 12); // March = 0
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// The date of day `z` after 1970-01-01: (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let d = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

const US_PER_DAY: i64 = 86_400_000_000;

/// `us` microseconds since the Unix epoch as RFC 3339 UTC with six decimals.
pub(crate) fn format_micros(us: i64) -> String {
    let days = us.div_euclid(US_PER_DAY);
    let in_day = us.rem_euclid(US_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let secs = in_day / 1_000_000;
    let frac = in_day % 1_000_000;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:06}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

fn digits(s: &str, n: usize) -> Option<u32> {
    (s.len() == n && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)` (RFC 3339; `t`, `z` and a
/// space for `T` accepted; fractions beyond microseconds are cut) into microseconds since
/// the Unix epoch.
pub(crate) fn parse_rfc3339(text: &str) -> Option<i64> {
    let t = text.trim();
    let (date, rest) = (t.get(..10)?, t.get(10..)?);
    let sep = rest.chars().next()?;
    if !matches!(sep, 'T' | 't' | ' ') {
        return None;
    }
    let rest = &rest[1..];
    let (y, m, d) = (
        digits(date.get(..4)?, 4)?,
        digits(date.get(5..7)?, 2)?,
        digits(date.get(8..10)?, 2)?,
    );
    if &date[4..5] != "-" || &date[7..8] != "-" || !(1..=12).contains(&m) || d == 0 {
        return None;
    }
    let y = i64::from(y);
    let month_days =
        days_from_civil(if m == 12 { y + 1 } else { y }, m % 12 + 1, 1) - days_from_civil(y, m, 1);
    if i64::from(d) > month_days {
        return None;
    }
    let (hh, mm, ss) = (
        digits(rest.get(..2)?, 2)?,
        digits(rest.get(3..5)?, 2)?,
        digits(rest.get(6..8)?, 2)?,
    );
    if &rest[2..3] != ":" || &rest[5..6] != ":" || hh > 23 || mm > 59 || ss > 59 {
        return None;
    }
    let mut rest = &rest[8..];
    let mut frac_us = 0i64;
    if let Some(f) = rest.strip_prefix('.') {
        let n = f.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        let first6: String = f[..n]
            .chars()
            .chain(std::iter::repeat('0'))
            .take(6)
            .collect();
        frac_us = first6.parse().ok()?;
        rest = &f[n..];
    }
    let offset_s: i64 = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.get(..1)? {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            let (oh, om) = (digits(rest.get(1..3)?, 2)?, digits(rest.get(4..6)?, 2)?);
            if rest.len() != 6 || &rest[3..4] != ":" || oh > 23 || om > 59 {
                return None;
            }
            sign * i64::from(oh * 3600 + om * 60)
        }
    };
    let secs = days_from_civil(y, m, d) * 86_400 + i64::from(hh * 3600 + mm * 60 + ss) - offset_s;
    secs.checked_mul(1_000_000)?.checked_add(frac_us)
}

/// A point in time given on the command line: an RFC 3339 time, or a duration
/// (`"24h"`, `"90d"`, the configuration's syntax) meaning that long before `now`.
pub(crate) fn parse_point(text: &str, now: SystemTime) -> Option<SystemTime> {
    if let Some(d) = rvp_server::config::parse_duration(text) {
        return Some(now.checked_sub(d).unwrap_or(SystemTime::UNIX_EPOCH));
    }
    parse_rfc3339(text).map(rvp_server::archive::from_micros)
}

/// A duration given on the command line (the configuration's syntax).
pub(crate) fn parse_age(text: &str) -> Option<Duration> {
    rvp_server::config::parse_duration(text)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_dates() {
        assert_eq!(format_micros(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(format_micros(-1), "1969-12-31T23:59:59.999999Z");
        assert_eq!(
            format_micros(951_782_400_000_000),
            "2000-02-29T00:00:00.000000Z"
        );
        assert_eq!(
            format_micros(1_796_632_429_123_456),
            "2026-12-07T08:33:49.123456Z"
        );
        assert_eq!(
            parse_rfc3339("2026-12-07T08:33:49.123456Z"),
            Some(1_796_632_429_123_456)
        );
        assert_eq!(
            parse_rfc3339("2026-12-07T10:33:49.1234569+02:00"),
            Some(1_796_632_429_123_456)
        );
        assert_eq!(parse_rfc3339("1970-01-01 00:00:00z"), Some(0));
        for bad in [
            "",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:00:60Z",
            "2026-01-01T00:00:00",
            "2026-01-01T00:00:00.Z",
            "2026-01-01T00:00:00+2:00",
            "2026-01-01X00:00:00Z",
            "२०२६-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        assert_eq!(
            parse_rfc3339("2024-02-29T00:00:00Z").map(|u| u > 0),
            Some(true)
        );
    }

    #[test]
    fn points_and_ages() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(10 * 86_400);
        assert_eq!(
            parse_point("7d", now),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(3 * 86_400))
        );
        assert_eq!(
            parse_point("1970-01-02T00:00:00Z", now),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(86_400))
        );
        assert_eq!(parse_point("yesterday", now), None);
        assert_eq!(parse_age("90d"), Some(Duration::from_secs(90 * 86_400)));
        assert_eq!(parse_age("90 days"), None);
    }

    proptest! {
        /// Formatting and parsing are inverses over ±10,000 years of microseconds.
        #[test]
        fn format_and_parse_round_trip(us in -62_135_596_800_000_000i64..253_402_300_799_999_999) {
            let text = format_micros(us);
            prop_assert_eq!(parse_rfc3339(&text), Some(us), "{}", text);
        }

        #[test]
        fn days_round_trip(z in -3_000_000i64..3_000_000) {
            let (y, m, d) = civil_from_days(z);
            prop_assert_eq!(days_from_civil(y, m, d), z);
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,40}") {
            let _ = parse_rfc3339(&text);
            let _ = parse_point(&text, SystemTime::now());
        }
    }
}
