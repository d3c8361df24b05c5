//! Elasticsearch date math in range queries: `now`, an anchor date followed by `||`, then
//! additions and subtractions (`+1d`, `-2h`) and a rounding (`/d`), in UTC.

use time::{Date, Duration, Month, OffsetDateTime, Time};

use crate::date::DateFormat;

/// How a rounded bound is completed: `gte`/`lt` take the start of the unit, `gt`/`lte` its
/// last millisecond, as Elasticsearch rounds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rounding {
    Down,
    Up,
}

fn add_months(at: OffsetDateTime, months: i64) -> Option<OffsetDateTime> {
    let total = i64::from(at.year()) * 12 + i64::from(u8::from(at.month())) - 1 + months;
    let year = i32::try_from(total.div_euclid(12)).ok()?;
    let month = Month::try_from(u8::try_from(total.rem_euclid(12) + 1).ok()?).ok()?;
    let day = at.day().min(time::util::days_in_month(month, year));
    let date = Date::from_calendar_date(year, month, day).ok()?;
    Some(at.replace_date(date))
}

fn round(at: OffsetDateTime, unit: char, rounding: Rounding) -> Option<OffsetDateTime> {
    let date = at.date();
    let start = match unit {
        'y' => Date::from_calendar_date(date.year(), Month::January, 1)
            .ok()?
            .midnight(),
        'M' => Date::from_calendar_date(date.year(), date.month(), 1)
            .ok()?
            .midnight(),
        'w' => {
            let monday = date - Duration::days(i64::from(date.weekday().number_days_from_monday()));
            monday.midnight()
        }
        'd' => date.midnight(),
        'h' => date.with_time(Time::from_hms(at.hour(), 0, 0).ok()?),
        'm' | 'H' => date.with_time(Time::from_hms(at.hour(), at.minute(), 0).ok()?),
        's' => date.with_time(Time::from_hms(at.hour(), at.minute(), at.second()).ok()?),
        _ => return None,
    }
    .assume_utc();
    match rounding {
        Rounding::Down => Some(start),
        Rounding::Up => {
            let next = match unit {
                'y' => add_months(start, 12)?,
                'M' => add_months(start, 1)?,
                'w' => start + Duration::weeks(1),
                'd' => start + Duration::days(1),
                'h' => start + Duration::hours(1),
                'm' | 'H' => start + Duration::minutes(1),
                _ => start + Duration::seconds(1),
            };
            Some(next - Duration::milliseconds(1))
        }
    }
}

/// Epoch milliseconds of a range bound, or `None` when it is not a date this field reads.
pub fn parse(value: &str, format: &DateFormat, now_ms: i64, rounding: Rounding) -> Option<i64> {
    parse_zoned(value, format, now_ms, rounding, &|_| 0)
}

/// Whether a date text names its own offset (`Z`, `+01:00`, `-0500`): then a query's
/// `time_zone` does not apply to it.
fn has_offset(text: &str) -> bool {
    let t = text.trim();
    if t.ends_with('Z') || t.ends_with('z') {
        return true;
    }
    let tail: Vec<char> = t.chars().rev().take(6).collect();
    // "+HH:MM" or "+HHMM" at the end, after a time (a date alone has dashes, not a sign
    // after digits at that position).
    let signed_at = |n: usize| tail.get(n).is_some_and(|c| *c == '+' || *c == '-');
    (signed_at(5) && tail.get(2) == Some(&':')) || (signed_at(4) && t.contains('T'))
}

/// Date math with a time zone: dates without their own offset are local times there, and
/// rounding (`/d`, `/M`) goes to local boundaries. `offset_ms` gives the zone's offset in
/// force at an instant; `now` itself is an instant and is not shifted.
pub fn parse_zoned(
    value: &str,
    format: &DateFormat,
    now_ms: i64,
    rounding: Rounding,
    offset_ms: &dyn Fn(i64) -> i64,
) -> Option<i64> {
    let local_to_utc = |text: &str| -> Option<i64> {
        let parsed = format.parse_str(text)?;
        let trimmed = text.trim();
        let epoch = trimmed
            .strip_prefix('-')
            .unwrap_or(trimmed)
            .chars()
            .all(|c| c.is_ascii_digit());
        if has_offset(text) || epoch {
            // Epoch numbers and dates with an offset are instants already.
            return Some(parsed);
        }
        Some(parsed - offset_ms(parsed))
    };
    let (anchor, math) = if let Some(rest) = value.strip_prefix("now") {
        (now_ms, rest)
    } else if let Some((date, math)) = value.split_once("||") {
        (local_to_utc(date)?, math)
    } else {
        return local_to_utc(value);
    };
    // The arithmetic runs on the local clock: shifted in, shifted back at the end.
    let shift = offset_ms(anchor);
    let mut at =
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(anchor + shift) * 1_000_000).ok()?;
    let mut rest = math;
    while !rest.is_empty() {
        let op = rest.chars().next()?;
        rest = &rest[1..];
        if op == '/' {
            let unit = rest.chars().next()?;
            rest = &rest[unit.len_utf8()..];
            at = round(at, unit, rounding)?;
            continue;
        }
        let sign = match op {
            '+' => 1,
            '-' => -1,
            _ => return None,
        };
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let n: i64 = if digits == 0 {
            1
        } else {
            rest[..digits].parse().ok()?
        };
        rest = &rest[digits..];
        let unit = rest.chars().next()?;
        rest = &rest[unit.len_utf8()..];
        let n = sign * n;
        at = match unit {
            'y' => add_months(at, n * 12)?,
            'M' => add_months(at, n)?,
            'w' => at + Duration::weeks(n),
            'd' => at + Duration::days(n),
            'h' | 'H' => at + Duration::hours(n),
            'm' => at + Duration::minutes(n),
            's' => at + Duration::seconds(n),
            _ => return None,
        };
    }
    let local = i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()?;
    Some(local - offset_ms(local - shift)).filter(|ms| crate::date::in_range(*ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_math_as_elasticsearch() {
        let f = DateFormat::default_format();
        // 2024-03-15T10:20:30Z
        let now = 1_710_498_030_000;
        assert_eq!(parse("now", &f, now, Rounding::Down), Some(now));
        assert_eq!(
            parse("now-1d", &f, now, Rounding::Down),
            Some(now - 86_400_000)
        );
        assert_eq!(
            parse("now/d", &f, now, Rounding::Down),
            Some(1_710_460_800_000)
        );
        assert_eq!(
            parse("now/d", &f, now, Rounding::Up),
            Some(1_710_547_199_999)
        );
        assert_eq!(
            parse("now-1M/M", &f, now, Rounding::Down),
            Some(1_706_745_600_000)
        );
        assert_eq!(
            parse("2024-01-31||+1M", &f, now, Rounding::Down),
            Some(1_709_164_800_000),
            "Jan 31 + 1 month is Feb 29 in a leap year"
        );
        assert_eq!(
            parse("2024-03-15", &f, now, Rounding::Down),
            Some(1_710_460_800_000)
        );
        assert_eq!(
            parse("now/w", &f, now, Rounding::Down),
            Some(1_710_115_200_000)
        );
        assert_eq!(parse("now+1x", &f, now, Rounding::Down), None);
        assert_eq!(parse("yesterday", &f, now, Rounding::Down), None);
    }

    #[test]
    fn time_zones_shift_local_dates_and_rounding_but_not_instants() {
        let f = DateFormat::default_format();
        let plus_two = |_: i64| 2 * 3_600_000;
        // 2024-03-15T10:00:00Z
        let now = 1_710_496_800_000;
        let midnight_utc = 1_710_460_800_000;
        assert_eq!(
            parse_zoned("now/d", &f, now, Rounding::Down, &plus_two),
            Some(midnight_utc - 2 * 3_600_000)
        );
        assert_eq!(
            parse_zoned("2024-03-15T00:00:00", &f, now, Rounding::Down, &plus_two),
            Some(midnight_utc - 2 * 3_600_000)
        );
        assert_eq!(
            parse_zoned("2024-03-15", &f, now, Rounding::Down, &plus_two),
            Some(midnight_utc - 2 * 3_600_000)
        );
        assert_eq!(
            parse_zoned("2024-03-15T00:00:00Z", &f, now, Rounding::Down, &plus_two),
            Some(midnight_utc)
        );
        assert_eq!(
            parse_zoned(
                "2024-03-15T02:00:00+02:00",
                &f,
                now,
                Rounding::Down,
                &plus_two
            ),
            Some(midnight_utc)
        );
    }
}
