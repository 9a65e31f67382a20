//! The digest schedule: a cron expression with seconds, read in the site's time zone.
//!
//! The cron crate, iterated in a zone with DST, skips a time that falls in the spring-forward gap
//! (02:30 on the last Sunday of March in Warsaw never fires) and fires twice for a time in the
//! autumn fold (02:30 CEST, then 02:30 CET). Both are wrong for a newsletter. So the expression
//! is evaluated on wall-clock times, where every time occurs once, and each wall-clock time is
//! then placed in the zone the way `site::local_datetime` places post dates: a time in the gap
//! moves forward by the gap, a time in the fold takes the earlier instant. A weekly 02:30 digest
//! therefore runs exactly once on both change days.
//!
//! The missed-run rule: after downtime, [`Schedule::last_between`] finds the latest fire time
//! that passed — the daemon sends once for it, not once per missed run.

use std::str::FromStr;

use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Tz;

use crate::site::local_datetime;

/// At most this many fire times are walked when looking for missed runs (a per-second
/// schedule down for 11 days).
const MAX_STEPS: usize = 1_000_000;

/// `digest.schedule` is not a cron expression (the configuration checks it first; this is what
/// the daemon reports if it ever gets one that is not).
#[derive(Debug, thiserror::Error)]
#[error("digest.schedule `{expression}`: {problem}")]
pub struct ScheduleError {
    expression: String,
    problem: cron::error::Error,
}

#[derive(Debug, Clone)]
pub struct Schedule {
    cron: cron::Schedule,
    timezone: Tz,
}

impl Schedule {
    pub fn parse(expression: &str, timezone: Tz) -> Result<Schedule, ScheduleError> {
        let cron = cron::Schedule::from_str(expression)
            .map_err(|problem| ScheduleError { expression: expression.to_owned(), problem })?;
        Ok(Schedule { cron, timezone })
    }

    /// The first fire time strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // Wall-clock times are walked as if they were UTC ("floating" times); starting a few
        // hours early catches a time in a gap that lands after `after` once moved forward.
        let wall = after.with_timezone(&self.timezone).naive_local() - Duration::hours(3);
        self.cron
            .after(&Utc.from_utc_datetime(&wall))
            .take(MAX_STEPS)
            .map(|floating| local_datetime(floating.naive_utc(), self.timezone).with_timezone(&Utc))
            .find(|instant| *instant > after)
    }

    /// The latest fire time in `(after, until]`, if any fire time passed.
    pub fn last_between(&self, after: DateTime<Utc>, until: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.due(after, until).map(|(fire, _)| fire)
    }

    /// The fires in `(after, until]` as the daemon acts on them: the latest, and how many
    /// earlier ones it stands for (they were missed: the daemon was down or busy).
    pub fn due(&self, after: DateTime<Utc>, until: DateTime<Utc>) -> Option<(DateTime<Utc>, u64)> {
        let mut last = None;
        let mut missed = 0;
        let mut cursor = after;
        for _ in 0..MAX_STEPS {
            match self.next_after(cursor) {
                Some(next) if next <= until => {
                    if last.is_some() {
                        missed += 1;
                    }
                    last = Some(next);
                    cursor = next;
                }
                _ => break,
            }
        }
        last.map(|fire| (fire, missed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Warsaw;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn fires(expression: &str, from: &str, count: usize) -> Vec<String> {
        let schedule = Schedule::parse(expression, Warsaw).unwrap();
        let mut at = utc(from);
        (0..count)
            .map(|_| {
                at = schedule.next_after(at).unwrap();
                at.with_timezone(&Warsaw).to_rfc3339()
            })
            .collect()
    }

    #[test]
    fn weekly_digest_keeps_its_local_hour_across_both_dst_changes() {
        assert_eq!(
            fires("0 0 8 * * Mon", "2026-03-20T00:00:00+01:00", 3),
            ["2026-03-23T08:00:00+01:00", "2026-03-30T08:00:00+02:00", "2026-04-06T08:00:00+02:00"]
        );
        assert_eq!(
            fires("0 0 8 * * Mon", "2026-10-20T00:00:00+02:00", 2),
            ["2026-10-26T08:00:00+01:00", "2026-11-02T08:00:00+01:00"]
        );
    }

    #[test]
    fn a_time_in_the_spring_gap_runs_once_just_after_it() {
        // 02:30 does not exist on 2026-03-29 in Warsaw: the run happens at 03:30 CEST.
        assert_eq!(
            fires("0 30 2 * * *", "2026-03-28T12:00:00+01:00", 3),
            ["2026-03-29T03:30:00+02:00", "2026-03-30T02:30:00+02:00", "2026-03-31T02:30:00+02:00"]
        );
    }

    #[test]
    fn a_time_in_the_autumn_fold_runs_once() {
        // 02:30 happens twice on 2026-10-25 in Warsaw: the run happens once, at the first.
        assert_eq!(
            fires("0 30 2 * * *", "2026-10-24T12:00:00+02:00", 3),
            ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00", "2026-10-27T02:30:00+01:00"]
        );
    }

    #[test]
    fn missed_runs_collapse_into_the_latest_one() {
        let schedule = Schedule::parse("0 0 8 * * *", Warsaw).unwrap();
        let last = schedule.last_between(utc("2026-11-20T08:00:00+01:00"), utc("2026-11-26T12:00:00+01:00"));
        assert_eq!(last, Some(utc("2026-11-26T08:00:00+01:00")));
        assert_eq!(schedule.last_between(utc("2026-11-26T08:00:00+01:00"), utc("2026-11-26T12:00:00+01:00")), None);
    }

    #[test]
    fn due_fires_collapse_into_the_latest_and_count_the_others() {
        let schedule = Schedule::parse("*/2 * * * * *", Warsaw).unwrap();
        let after = utc("2026-11-26T08:00:00+01:00");
        assert_eq!(schedule.due(after, utc("2026-11-26T08:00:01+01:00")), None);
        assert_eq!(schedule.due(after, utc("2026-11-26T08:00:02+01:00")), Some((utc("2026-11-26T08:00:02+01:00"), 0)));
        assert_eq!(schedule.due(after, utc("2026-11-26T08:00:07+01:00")), Some((utc("2026-11-26T08:00:06+01:00"), 2)));
    }

    #[test]
    fn fires_due_across_both_dst_changes_count_each_wall_clock_time_once() {
        // Hourly at :30. The autumn night (Warsaw, 2026-10-25) has 02:30 twice on the clock: one
        // fire. The spring night (2026-03-29) has no 02:30: its fire moves to 03:30 — which is
        // also the 03:30 fire, so that night has one fire fewer, never two at once.
        let schedule = Schedule::parse("0 30 * * * *", Warsaw).unwrap();
        let autumn = schedule.due(utc("2026-10-25T00:00:00+02:00"), utc("2026-10-25T05:00:00+01:00"));
        // 00:30, 01:30, 02:30 (CEST), 03:30, 04:30: five fires, the latest at 04:30 CET.
        assert_eq!(autumn, Some((utc("2026-10-25T04:30:00+01:00"), 4)));
        let spring = schedule.due(utc("2026-03-29T00:00:00+01:00"), utc("2026-03-29T05:00:00+02:00"));
        // 00:30, 01:30, 03:30 (02:30 is in the gap and lands there too), 04:30.
        assert_eq!(spring, Some((utc("2026-03-29T04:30:00+02:00"), 3)));
    }

    #[test]
    fn a_per_second_schedule_fires_every_second_without_repeats() {
        let got = fires("* * * * * *", "2026-11-26T08:00:00+01:00", 3);
        assert_eq!(got, ["2026-11-26T08:00:01+01:00", "2026-11-26T08:00:02+01:00", "2026-11-26T08:00:03+01:00"]);
    }
}
