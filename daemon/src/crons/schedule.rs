//! When a schedule is due: a five-field cron pattern read in an IANA time
//! zone (croner does the pattern, jiff the zone), and times as frontends
//! write them.

use croner::Cron;
use croner::parser::{CronParser, Seconds};
use jiff_02::Timestamp;
use jiff_02::tz::TimeZone;

/// Due times counted at most when working out how many were missed; past
/// it the count says "at least".
pub const MAX_COUNTED: u64 = 10_000;

/// A cron pattern in its time zone.
pub struct Pattern {
    cron: Cron,
    zone: TimeZone,
}

impl Pattern {
    /// Reads `pattern` (minute, hour, day of month, month, day of week) in
    /// the zone named `timezone`.
    pub fn parse(pattern: &str, timezone: &str) -> Result<Pattern, String> {
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .build()
            .parse(pattern.trim())
            .map_err(|err| {
                format!(
                    "{pattern:?} is not a cron pattern of five fields (minute hour day-of-month \
                     month day-of-week, e.g. \"0 9 * * 1-5\"): {err}"
                )
            })?;
        let zone = TimeZone::get(timezone).map_err(|_| {
            format!("{timezone:?} is not an IANA time zone (e.g. \"Europe/Berlin\" or \"UTC\")")
        })?;
        Ok(Pattern { cron, zone })
    }

    /// The first due time strictly after `after` (Unix ms), if the pattern
    /// ever matches again.
    pub fn next_after(&self, after: i64) -> Option<i64> {
        let start = Timestamp::from_millisecond(after)
            .ok()?
            .to_zoned(self.zone.clone());
        let next = self.cron.find_next_occurrence(&start, false).ok()?;
        Some(next.timestamp().as_millisecond())
    }

    /// The due times from `first` (a due time) through `now`: how many
    /// (at most [`MAX_COUNTED`]) and the newest.
    pub fn due_through(&self, first: i64, now: i64) -> (u64, i64) {
        let mut count = 1;
        let mut newest = first;
        while count < MAX_COUNTED {
            match self.next_after(newest) {
                Some(next) if next <= now => {
                    newest = next;
                    count += 1;
                }
                _ => return (count, newest),
            }
        }
        // Too many to count one by one: the newest is found directly.
        let newest = Timestamp::from_millisecond(now)
            .ok()
            .map(|now| now.to_zoned(self.zone.clone()))
            .and_then(|now| self.cron.find_previous_occurrence(&now, true).ok())
            .map_or(newest, |at| at.timestamp().as_millisecond());
        (count, newest)
    }

    /// The due time before `at`, if there is one.
    pub fn previous_before(&self, at: i64) -> Option<i64> {
        let start = Timestamp::from_millisecond(at)
            .ok()?
            .to_zoned(self.zone.clone());
        let previous = self.cron.find_previous_occurrence(&start, false).ok()?;
        Some(previous.timestamp().as_millisecond())
    }
}

/// The daemon's own time zone, by IANA name (UTC when it has none).
pub fn system_timezone() -> String {
    TimeZone::try_system()
        .ok()
        .and_then(|zone| zone.iana_name().map(str::to_owned))
        .unwrap_or_else(|| "UTC".to_owned())
}

pub use crate::tools::wake::{parse_time, rfc3339};

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        parse_time("t", text).unwrap()
    }

    #[test]
    fn patterns_are_read_in_their_zone() {
        let nine = Pattern::parse("0 9 * * *", "Europe/Berlin").unwrap();
        // 09:00 in Berlin in winter is 08:00 UTC; in summer 07:00 UTC.
        assert_eq!(
            nine.next_after(at("2026-12-01T08:30:00Z")),
            Some(at("2026-12-02T08:00:00Z"))
        );
        assert_eq!(
            nine.next_after(at("2026-07-01T06:00:00Z")),
            Some(at("2026-07-01T07:00:00Z"))
        );
        let utc = Pattern::parse("*/15 * * * *", "UTC").unwrap();
        assert_eq!(
            utc.next_after(at("2026-12-01T10:00:00Z")),
            Some(at("2026-12-01T10:15:00Z"))
        );
    }

    #[test]
    fn missed_due_times_are_counted_and_the_newest_named() {
        let hourly = Pattern::parse("0 * * * *", "UTC").unwrap();
        let first = at("2026-12-01T10:00:00Z");
        assert_eq!(
            hourly.due_through(first, at("2026-12-01T13:30:00Z")),
            (4, at("2026-12-01T13:00:00Z"))
        );
        assert_eq!(hourly.due_through(first, first), (1, first));
        assert_eq!(
            hourly.previous_before(at("2026-12-01T13:00:00Z")),
            Some(at("2026-12-01T12:00:00Z"))
        );
        let minutely = Pattern::parse("* * * * *", "UTC").unwrap();
        let (count, newest) = minutely.due_through(first, at("2026-12-31T10:00:30Z"));
        assert_eq!(count, MAX_COUNTED);
        assert_eq!(newest, at("2026-12-31T10:00:00Z"));
    }

    #[test]
    fn bad_patterns_and_zones_say_what_is_expected() {
        for (pattern, zone) in [
            ("0 9 * *", "UTC"),
            ("0 0 9 * * *", "UTC"),
            ("61 * * * *", "UTC"),
            ("every day", "UTC"),
            ("0 9 * * *", "Mars/Olympus"),
            ("0 9 * * *", ""),
        ] {
            let error = Pattern::parse(pattern, zone).err().unwrap_or_default();
            assert!(
                error.contains("five fields") || error.contains("IANA"),
                "{pattern} {zone}: {error}"
            );
        }
        assert!(parse_time("scheduled_for", "tomorrow").is_err());
    }
}
