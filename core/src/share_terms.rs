//! Terms of a share link as people type them: `--expires 7d`, `2027-01-31`, `never`.

use time::format_description::well_known::Rfc3339;
use time::{Date, Duration, OffsetDateTime, Time};

/// When a link made with `--expires SPEC` at `now` stops: `Ok(None)` for `never`.
pub fn parse_expiry(spec: &str, now: OffsetDateTime) -> Result<Option<OffsetDateTime>, String> {
    let spec = spec.trim();
    if spec.eq_ignore_ascii_case("never") {
        return Ok(None);
    }
    if let Some(unit) = spec.chars().last().filter(char::is_ascii_alphabetic)
        && let Ok(n) = spec[..spec.len() - 1].parse::<i64>()
    {
        let length = match unit {
            'm' => Duration::minutes(n),
            'h' => Duration::hours(n),
            'd' => Duration::days(n),
            'w' => Duration::weeks(n),
            _ => {
                return Err(format!(
                    "unknown unit {unit:?} in {spec:?}: use m, h, d or w"
                ));
            }
        };
        if n <= 0 {
            return Err(format!("{spec:?} is not in the future"));
        }
        return Ok(Some(now + length));
    }
    if let Ok(at) = OffsetDateTime::parse(spec, &Rfc3339) {
        return Ok(Some(at));
    }
    let date_format = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(date) = Date::parse(spec, date_format) {
        // The end of that day, UTC.
        return Ok(Some(
            date.with_time(Time::MIDNIGHT).assume_utc() + Duration::days(1) - Duration::seconds(1),
        ));
    }
    Err(format!(
        "cannot read {spec:?}: give a duration (12h, 7d, 2w), a date (2027-01-31), \
         an RFC 3339 time, or never"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn expiries_read_durations_dates_times_and_never() {
        let now = datetime!(2026-12-03 12:00 UTC);
        assert_eq!(parse_expiry("never", now).unwrap(), None);
        assert_eq!(
            parse_expiry("7d", now).unwrap(),
            Some(datetime!(2026-12-10 12:00 UTC))
        );
        assert_eq!(
            parse_expiry("12h", now).unwrap(),
            Some(datetime!(2026-12-04 00:00 UTC))
        );
        assert_eq!(
            parse_expiry("2027-01-31", now).unwrap(),
            Some(datetime!(2027-01-31 23:59:59 UTC))
        );
        assert_eq!(
            parse_expiry("2027-01-31T08:00:00+01:00", now).unwrap(),
            Some(datetime!(2027-01-31 07:00 UTC))
        );
        for bad in ["7y", "-3d", "0d", "soon", "2027-13-01"] {
            assert!(parse_expiry(bad, now).is_err(), "{bad}");
        }
    }
}
