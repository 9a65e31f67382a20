//! Dates in front matter: RFC 3339 with an offset, or a bare date or date-time read in the site's
//! time zone.
//!
//! A local time that a DST change skips (02:30 on the last Sunday of March in Warsaw) is read with
//! the offset in force just before the gap, as RFC 5545 and Temporal's "compatible" mode do, so it
//! lands after the gap; a local time that occurs twice takes the earlier instant. Every date is
//! returned in the site's zone so that feeds show one consistent offset.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone};
use chrono_tz::Tz;

/// Parses a front-matter date, or says what forms are accepted.
pub fn parse(text: &str, tz: Tz) -> Result<DateTime<FixedOffset>, String> {
    let text = text.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Ok(dt.with_timezone(&tz).fixed_offset());
    }
    // Jekyll writes `2026-03-01 10:20:30 +0100`; `%z` takes `+0100` and `+01:00`.
    for format in ["%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f %z", "%Y-%m-%d %H:%M%z", "%Y-%m-%d %H:%M %z"] {
        if let Ok(dt) = DateTime::parse_from_str(text, format) {
            return Ok(dt.with_timezone(&tz).fixed_offset());
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(local(date.and_time(NaiveTime::MIN), tz));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(local(naive, tz));
        }
    }
    Err(format!(
        "`{text}` is not a date: use 2026-11-26, 2026-11-26T08:00:00 (read in the site's time zone) \
         or RFC 3339 such as 2026-11-26T08:00:00+01:00"
    ))
}

/// Reads a wall-clock time in `tz`, resolving DST gaps and folds as described above.
pub fn local(naive: NaiveDateTime, tz: Tz) -> DateTime<FixedOffset> {
    match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(dt) => dt.fixed_offset(),
        chrono::LocalResult::Ambiguous(earlier, _) => earlier.fixed_offset(),
        chrono::LocalResult::None => {
            // In a gap: use the offset of a moment safely before it (no zone has a gap of more
            // than a day), then show the instant in the zone.
            let before = naive - chrono::Duration::days(1);
            let offset = tz.offset_from_utc_datetime(&before).fix();
            let utc = naive - chrono::Duration::seconds(i64::from(offset.local_minus_utc()));
            tz.from_utc_datetime(&utc).fixed_offset()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::{America::Sao_Paulo, Europe::Warsaw};

    fn at(text: &str, tz: Tz) -> String {
        parse(text, tz).unwrap().to_rfc3339()
    }

    #[test]
    fn bare_dates_take_the_offset_of_their_season() {
        assert_eq!(at("2026-01-15", Warsaw), "2026-01-15T00:00:00+01:00");
        assert_eq!(at("2026-07-15", Warsaw), "2026-07-15T00:00:00+02:00");
    }

    #[test]
    fn bare_dates_on_both_dst_change_days_are_midnight_local() {
        assert_eq!(at("2026-03-29", Warsaw), "2026-03-29T00:00:00+01:00");
        assert_eq!(at("2026-10-25", Warsaw), "2026-10-25T00:00:00+02:00");
    }

    #[test]
    fn a_time_in_the_spring_gap_moves_forward_by_the_gap() {
        assert_eq!(at("2026-03-29T02:30:00", Warsaw), "2026-03-29T03:30:00+02:00");
    }

    #[test]
    fn a_time_in_the_autumn_fold_takes_the_earlier_instant() {
        assert_eq!(at("2026-10-25 02:30", Warsaw), "2026-10-25T02:30:00+02:00");
    }

    #[test]
    fn a_midnight_that_does_not_exist_becomes_the_first_valid_time() {
        // Brazil moved clocks forward at midnight on 2018-11-04: 00:00 never happened.
        assert_eq!(at("2018-11-04", Sao_Paulo), "2018-11-04T01:00:00-02:00");
    }

    #[test]
    fn explicit_offsets_keep_their_instant_and_show_the_site_zone() {
        assert_eq!(at("2026-11-26T08:00:00Z", Warsaw), "2026-11-26T09:00:00+01:00");
        assert_eq!(at("2026-11-26T08:00:00+01:00", Warsaw), "2026-11-26T08:00:00+01:00");
    }

    #[test]
    fn jekyll_dates_with_seconds_and_a_numeric_zone_keep_their_instant() {
        assert_eq!(at("2026-03-01 10:20:30 +0100", Warsaw), "2026-03-01T10:20:30+01:00");
        assert_eq!(at("2026-03-01 10:20:30 -0500", Warsaw), "2026-03-01T16:20:30+01:00");
        assert_eq!(at("2026-03-01 10:20:30+01:00", Warsaw), "2026-03-01T10:20:30+01:00");
        assert_eq!(at("2026-03-01 10:20 +0100", Warsaw), "2026-03-01T10:20:00+01:00");
    }

    #[test]
    fn nonsense_is_refused_with_the_accepted_forms() {
        let err = parse("26.11.2026", Warsaw).unwrap_err();
        assert!(err.contains("`26.11.2026` is not a date"), "{err}");
    }
}
