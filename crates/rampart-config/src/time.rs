//! Elasticsearch time values: `5s`, `500ms`, `1m`, `2h`, `1d`, `100micros`, `10nanos`.

use std::time::Duration;

pub fn parse_time_value(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("[{s}] has no time unit: write it as e.g. 5s or 500ms"))?;
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("[{s}] is not a time value such as 5s"))?;
    let duration = match unit {
        "nanos" => Duration::from_nanos(n),
        "micros" => Duration::from_micros(n),
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        "d" => Duration::from_secs(n.saturating_mul(86400)),
        _ => {
            return Err(format!(
                "[{s}] has an unknown time unit: use nanos, micros, ms, s, m, h or d"
            ));
        }
    };
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse_time_value("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_time_value("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_time_value("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_time_value("5").is_err());
        assert!(parse_time_value("5 parsecs").is_err());
        assert!(parse_time_value("s").is_err());
    }
}
