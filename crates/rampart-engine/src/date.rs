//! Elasticsearch date formats: the built-in names Rampart supports and Java-style patterns
//! (`yyyy-MM-dd HH:mm:ss`), joined with `||` as alternatives. Every value becomes epoch
//! milliseconds in UTC.

use time::{Date, Month, PrimitiveDateTime, Time, UtcOffset};

/// Elasticsearch's default for `date` fields.
pub const DEFAULT_DATE_FORMAT: &str = "strict_date_optional_time||epoch_millis";

/// A parsed `format` of a date field: alternatives tried in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateFormat {
    spec: String,
    alternatives: Vec<Alternative>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Alternative {
    /// `strict_date_optional_time` and friends: ISO 8601 with optional parts.
    OptionalTime,
    EpochMillis,
    EpochSecond,
    Pattern(Vec<Token>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Year(usize),
    Month,
    Day,
    Hour,
    Minute,
    Second,
    Fraction(usize),
    Offset,
    Literal(char),
}

/// Named formats expressed as patterns, as Elasticsearch defines them.
fn named_pattern(name: &str) -> Option<&'static str> {
    let name = name.strip_prefix("strict_").unwrap_or(name);
    Some(match name {
        "date" => "yyyy-MM-dd",
        "basic_date" => "yyyyMMdd",
        "basic_date_time" => "yyyyMMdd'T'HHmmss.SSSZ",
        "basic_date_time_no_millis" => "yyyyMMdd'T'HHmmssZ",
        "date_time" => "yyyy-MM-dd'T'HH:mm:ss.SSSZ",
        "date_time_no_millis" => "yyyy-MM-dd'T'HH:mm:ssZ",
        "date_hour" => "yyyy-MM-dd'T'HH",
        "date_hour_minute" => "yyyy-MM-dd'T'HH:mm",
        "date_hour_minute_second" => "yyyy-MM-dd'T'HH:mm:ss",
        "date_hour_minute_second_millis" | "date_hour_minute_second_fraction" => {
            "yyyy-MM-dd'T'HH:mm:ss.SSS"
        }
        "year_month_day" => "yyyy-MM-dd",
        "year_month" => "yyyy-MM",
        "year" => "yyyy",
        "hour_minute_second" => "HH:mm:ss",
        _ => return None,
    })
}

impl DateFormat {
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut alternatives = Vec::new();
        for part in spec.split("||") {
            let part = part.trim();
            let alternative = match part {
                "strict_date_optional_time"
                | "date_optional_time"
                | "strict_date_optional_time_nanos"
                | "iso8601" => Alternative::OptionalTime,
                "epoch_millis" => Alternative::EpochMillis,
                "epoch_second" => Alternative::EpochSecond,
                "" => return Err(format!("empty date format in [{spec}]")),
                other => {
                    Alternative::Pattern(compile_pattern(named_pattern(other).unwrap_or(other))?)
                }
            };
            alternatives.push(alternative);
        }
        Ok(DateFormat {
            spec: spec.to_string(),
            alternatives,
        })
    }

    pub fn default_format() -> Self {
        // The default is a constant that parses.
        DateFormat {
            spec: DEFAULT_DATE_FORMAT.to_string(),
            alternatives: vec![Alternative::OptionalTime, Alternative::EpochMillis],
        }
    }

    pub fn spec(&self) -> &str {
        &self.spec
    }

    /// Epoch milliseconds for a string value, or `None` when no alternative matches.
    pub fn parse_str(&self, value: &str) -> Option<i64> {
        self.alternatives
            .iter()
            .find_map(|a| match a {
                Alternative::OptionalTime => parse_optional_time(value),
                Alternative::EpochMillis => parse_epoch(value, 1),
                Alternative::EpochSecond => parse_epoch(value, 1000),
                Alternative::Pattern(tokens) => parse_pattern(tokens, value),
            })
            .filter(|ms| in_range(*ms))
    }

    /// Epoch milliseconds for a JSON number, which only the epoch formats accept.
    pub fn parse_number(&self, value: f64) -> Option<i64> {
        self.alternatives
            .iter()
            .find_map(|a| match a {
                Alternative::EpochMillis if value.is_finite() => Some(value as i64),
                Alternative::EpochSecond if value.is_finite() => Some((value * 1000.0) as i64),
                _ => None,
            })
            .filter(|ms| in_range(*ms))
    }
}

/// The dates the search index can hold: nanoseconds in an i64, about the years 1677 to 2262
/// (Elasticsearch's `date_nanos` range; `date` reaches further, which Rampart refuses rather
/// than wraps).
pub const MAX_DATE_MS: i64 = i64::MAX / 1_000_000;

/// Whether a date in epoch milliseconds fits the search index.
pub fn in_range(ms: i64) -> bool {
    (-MAX_DATE_MS..=MAX_DATE_MS).contains(&ms)
}

fn parse_epoch(value: &str, unit_ms: i64) -> Option<i64> {
    if let Ok(n) = value.parse::<i64>() {
        return n.checked_mul(unit_ms);
    }
    let f: f64 = value.parse().ok()?;
    f.is_finite().then_some((f * unit_ms as f64) as i64)
}

fn compile_pattern(pattern: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            let end = chars[i + 1..]
                .iter()
                .position(|&q| q == '\'')
                .ok_or_else(|| format!("unterminated quote in date format [{pattern}]"))?;
            tokens.extend(chars[i + 1..i + 1 + end].iter().map(|&l| Token::Literal(l)));
            i += end + 2;
            continue;
        }
        if c.is_ascii_alphabetic() {
            let run = chars[i..].iter().take_while(|&&x| x == c).count();
            let token = match c {
                'y' | 'u' => Token::Year(run),
                'M' if run <= 2 => Token::Month,
                'd' if run <= 2 => Token::Day,
                'H' if run <= 2 => Token::Hour,
                'm' if run <= 2 => Token::Minute,
                's' if run <= 2 => Token::Second,
                'S' => Token::Fraction(run),
                'Z' | 'X' | 'x' => Token::Offset,
                _ => {
                    return Err(format!(
                        "unsupported date format pattern letter [{}] in [{pattern}]: use \
                         y, M, d, H, m, s, S and Z/X, or a built-in format name",
                        chars[i..i + run].iter().collect::<String>()
                    ));
                }
            };
            tokens.push(token);
            i += run;
            continue;
        }
        tokens.push(Token::Literal(c));
        i += 1;
    }
    Ok(tokens)
}

fn take_digits(s: &str, min: usize, max: usize) -> Option<(u32, &str)> {
    let n = s.bytes().take(max).take_while(u8::is_ascii_digit).count();
    if n < min {
        return None;
    }
    Some((s[..n].parse().ok()?, &s[n..]))
}

fn parse_offset(s: &str) -> Option<(i32, &str)> {
    if let Some(rest) = s.strip_prefix('Z') {
        return Some((0, rest));
    }
    let sign = match s.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (hours, rest) = take_digits(&s[1..], 2, 2)?;
    let rest = rest.strip_prefix(':').unwrap_or(rest);
    let (minutes, rest) = take_digits(rest, 2, 2).unwrap_or((0, rest));
    if hours > 18 || minutes > 59 {
        return None;
    }
    Some((sign * (hours * 3600 + minutes * 60) as i32, rest))
}

#[derive(Default)]
struct Parts {
    year: i32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    nanos: u32,
    offset_seconds: i32,
}

impl Parts {
    fn new() -> Self {
        Parts {
            year: 1970,
            month: 1,
            day: 1,
            ..Default::default()
        }
    }

    fn millis(&self) -> Option<i64> {
        let month = Month::try_from(u8::try_from(self.month).ok()?).ok()?;
        let date = Date::from_calendar_date(self.year, month, u8::try_from(self.day).ok()?).ok()?;
        let time = Time::from_hms_nano(
            u8::try_from(self.hour).ok()?,
            u8::try_from(self.minute).ok()?,
            u8::try_from(self.second).ok()?,
            self.nanos,
        )
        .ok()?;
        let offset = UtcOffset::from_whole_seconds(self.offset_seconds).ok()?;
        let instant = PrimitiveDateTime::new(date, time).assume_offset(offset);
        i64::try_from(instant.unix_timestamp_nanos() / 1_000_000).ok()
    }
}

fn fraction_nanos(digits: &str) -> Option<u32> {
    let significant = &digits[..digits.len().min(9)];
    let value: u32 = significant.parse().ok()?;
    Some(value * 10u32.pow(9 - significant.len() as u32))
}

/// `yyyy[-MM[-dd]][T]HH[:mm[:ss[.S…]]][offset]`, as `strict_date_optional_time`.
fn parse_optional_time(value: &str) -> Option<i64> {
    let mut parts = Parts::new();
    let (year, mut rest) = take_digits(value, 4, 4)?;
    parts.year = year as i32;
    if let Some(r) = rest.strip_prefix('-') {
        let (month, r) = take_digits(r, 2, 2)?;
        parts.month = month;
        rest = r;
        if let Some(r) = rest.strip_prefix('-') {
            let (day, r) = take_digits(r, 2, 2)?;
            parts.day = day;
            rest = r;
        }
    }
    if let Some(r) = rest.strip_prefix('T') {
        let (hour, r) = take_digits(r, 2, 2)?;
        parts.hour = hour;
        rest = r;
        if let Some(r) = rest.strip_prefix(':') {
            let (minute, r) = take_digits(r, 2, 2)?;
            parts.minute = minute;
            rest = r;
            if let Some(r) = rest.strip_prefix(':') {
                let (second, r) = take_digits(r, 2, 2)?;
                parts.second = second;
                rest = r;
                if let Some(r) = rest.strip_prefix(['.', ',']) {
                    let n = r.bytes().take_while(u8::is_ascii_digit).count();
                    if n == 0 {
                        return None;
                    }
                    parts.nanos = fraction_nanos(&r[..n])?;
                    rest = &r[n..];
                }
            }
        }
        if !rest.is_empty() {
            let (offset, r) = parse_offset(rest)?;
            parts.offset_seconds = offset;
            rest = r;
        }
    }
    if !rest.is_empty() {
        return None;
    }
    parts.millis()
}

fn parse_pattern(tokens: &[Token], value: &str) -> Option<i64> {
    let mut parts = Parts::new();
    let mut rest = value;
    for token in tokens {
        match token {
            Token::Literal(c) => rest = rest.strip_prefix(*c)?,
            Token::Year(n) => {
                let max = if *n >= 4 { *n } else { 9 };
                let (year, r) = take_digits(rest, (*n).min(4), max)?;
                parts.year = i32::try_from(year).ok()?;
                rest = r;
            }
            Token::Fraction(n) => {
                let digits = rest.bytes().take(9).take_while(u8::is_ascii_digit).count();
                if digits < *n.min(&digits.max(1)) || digits == 0 {
                    return None;
                }
                parts.nanos = fraction_nanos(&rest[..digits])?;
                rest = &rest[digits..];
            }
            Token::Offset => {
                let (offset, r) = parse_offset(rest)?;
                parts.offset_seconds = offset;
                rest = r;
            }
            field => {
                let (n, r) = take_digits(rest, 1, 2)?;
                match field {
                    Token::Month => parts.month = n,
                    Token::Day => parts.day = n,
                    Token::Hour => parts.hour = n,
                    Token::Minute => parts.minute = n,
                    _ => parts.second = n,
                }
                rest = r;
            }
        }
    }
    if !rest.is_empty() {
        return None;
    }
    parts.millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_beyond_what_the_index_holds_are_refused_not_wrapped() {
        let epoch = DateFormat::parse("epoch_millis").expect("format");
        assert_eq!(epoch.parse_str("9223372036854"), Some(MAX_DATE_MS));
        assert_eq!(epoch.parse_str("99999999999999999"), None);
        assert_eq!(epoch.parse_number(-1e17), None);
        assert!(
            DateFormat::default_format()
                .parse_str("2262-04-12T00:00:00Z")
                .is_none()
        );
        assert!(
            DateFormat::default_format()
                .parse_str("2262-04-10T00:00:00Z")
                .is_some()
        );
    }

    #[test]
    fn default_format_reads_iso_and_epoch() {
        let f = DateFormat::default_format();
        assert_eq!(f.parse_str("1970-01-01"), Some(0));
        assert_eq!(f.parse_str("2015-01-01T12:10:30Z"), Some(1_420_114_230_000));
        assert_eq!(
            f.parse_str("2015-01-01T12:10:30.123+01:00"),
            Some(1_420_114_230_123 - 3_600_000)
        );
        assert_eq!(f.parse_str("2015-01"), Some(1_420_070_400_000));
        assert_eq!(f.parse_str("1420070400001"), Some(1_420_070_400_001));
        assert_eq!(f.parse_number(5.0), Some(5));
        assert_eq!(f.parse_str("2015-13-01"), None);
        assert_eq!(f.parse_str("2015-02-30"), None);
        assert_eq!(f.parse_str("yesterday"), None);
        assert_eq!(f.parse_str("2015-01-01 12:00"), None);
    }

    #[test]
    fn patterns_and_named_formats() {
        let f = DateFormat::parse("yyyy/MM/dd HH:mm:ss||epoch_second").expect("valid");
        assert_eq!(f.parse_str("2015/01/01 12:10:30"), Some(1_420_114_230_000));
        assert_eq!(f.parse_str("1420114230"), Some(1_420_114_230_000));
        assert_eq!(f.parse_number(1.5), Some(1500));
        let f = DateFormat::parse("basic_date").expect("valid");
        assert_eq!(f.parse_str("19700102"), Some(86_400_000));
        assert!(DateFormat::parse("yyyy-MM-dd EEE").is_err());
        assert!(DateFormat::parse("yyyy 'unterminated").is_err());
        let f = DateFormat::parse("date_time").expect("valid");
        assert_eq!(f.parse_str("1970-01-01T00:00:01.500Z"), Some(1500));
    }
}
