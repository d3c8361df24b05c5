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
    let (anchor, math) = if let Some(rest) = value.strip_prefix("now") {
        (now_ms, rest)
    } else if let Some((date, math)) = value.split_once("||") {
        (format.parse_str(date)?, math)
    } else {
        return format.parse_str(value);
    };
    let mut at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(anchor) * 1_000_000).ok()?;
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
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
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
}
