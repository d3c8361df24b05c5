//! Deterministic web-server log documents shaped like Rally's `http_logs` track (the 1998
//! World Cup access logs): `@timestamp`, `clientip`, `request`, `status` and `size`.
//!
//! No external data and no dependency but `serde_json`: a seeded splitmix64 drives every
//! choice, so the same `(n, seed)` always yields the same documents in the same order. Other
//! benches or a binary can reuse it with `#[path = ".../benches/http_logs.rs"] mod http_logs;`.

use std::net::Ipv4Addr;

use serde_json::{Value, json};

/// 1998-06-01T00:00:00Z in milliseconds since the epoch.
pub const START_MS: i64 = 896_659_200_000;
/// The documents' timestamps spread over ten days from [`START_MS`].
pub const SPAN_MS: i64 = 10 * DAY_MS;
pub const DAY_MS: i64 = 86_400_000;
pub const HOUR_MS: i64 = 3_600_000;

/// One log line, typed.
#[derive(Debug, Clone, PartialEq)]
pub struct LogDoc {
    /// Milliseconds since the epoch, UTC.
    pub timestamp_ms: i64,
    pub clientip: Ipv4Addr,
    /// `GET /images/logo_cfo.gif HTTP/1.0`.
    pub request: String,
    pub status: u16,
    pub size: u64,
}

impl LogDoc {
    /// `@timestamp` as ISO-8601 UTC with milliseconds: `1998-06-01T00:00:00.000Z`.
    pub fn timestamp(&self) -> String {
        iso8601(self.timestamp_ms)
    }

    /// The document as it is sent to a search engine.
    pub fn to_json(&self) -> Value {
        json!({
            "@timestamp": self.timestamp(),
            "clientip": self.clientip.to_string(),
            "request": self.request,
            "status": self.status,
            "size": self.size,
        })
    }
}

/// `n` documents as JSON, in timestamp order.
pub fn documents(n: usize, seed: u64) -> impl Iterator<Item = Value> {
    log_docs(n, seed).map(|d| d.to_json())
}

/// `n` typed documents, in timestamp order: the `i`-th falls in the `i`-th of `n` equal slices
/// of the ten days, so they are spread uniformly whatever `n` is.
pub fn log_docs(n: usize, seed: u64) -> impl Iterator<Item = LogDoc> {
    let paths = paths();
    let mut rng = SplitMix64(seed);
    let n_i = i64::try_from(n.max(1)).unwrap_or(i64::MAX);
    let slice = (SPAN_MS / n_i).max(1);
    (0..n).map(move |i| {
        let i = i64::try_from(i).unwrap_or(i64::MAX);
        let timestamp_ms = START_MS + i * SPAN_MS / n_i + rng.below(slice as u64) as i64;

        // A few heavy clients and a long tail, each client index mapped to a fixed address.
        let client = (rng.unit().powi(2) * 50_000.0) as u64;
        let clientip =
            Ipv4Addr::from((SplitMix64(client ^ seed.rotate_left(17)).next() >> 32) as u32);

        // Skewed popularity: the first paths of the list are asked for far more often.
        let p = ((rng.unit().powi(3) * paths.len() as f64) as usize).min(paths.len() - 1);
        let (path, base_size) = &paths[p];
        let method = match rng.below(1000) {
            0..=979 => "GET",
            980..=994 => "HEAD",
            _ => "POST",
        };
        let protocol = if rng.below(10) < 7 {
            "HTTP/1.0"
        } else {
            "HTTP/1.1"
        };
        let request = format!("{method} {path} {protocol}");

        let (status, size) = match rng.below(1000) {
            0..=849 => (200, *base_size),
            850..=939 => (304, 0),
            940..=979 => (404, 300 + rng.below(40)),
            980..=994 => (206, rng.below(*base_size) + 1),
            _ => (500, rng.below(600)),
        };
        LogDoc {
            timestamp_ms,
            clientip,
            request,
            status,
            size,
        }
    })
}

/// The fixed list of 200 request paths, most popular first, each with its response size.
fn paths() -> Vec<(String, u64)> {
    const SECTIONS: [(&str, &str); 10] = [
        ("/images/", "gif"),
        ("/english/", "html"),
        ("/english/images/", "gif"),
        ("/french/", "html"),
        ("/french/images/", "gif"),
        ("/english/news/", "html"),
        ("/english/teams/", "html"),
        ("/english/history/", "html"),
        ("/english/competition/", "html"),
        ("/english/venues/", "html"),
    ];
    const NAMES: [&str; 20] = [
        "index",
        "logo_cfo",
        "nav_home_off",
        "space",
        "hm_bg",
        "dot",
        "teams_hm_bg",
        "news_btn",
        "team_group",
        "comp_stage",
        "hm_nbg",
        "brdr_bg",
        "fpnewstop",
        "bullet",
        "tck_btn",
        "past_cups",
        "venue_paris",
        "player_stats",
        "schedule",
        "102325",
    ];
    let mut rng = SplitMix64(0x5EED_0F9A_7F00);
    let mut out = Vec::with_capacity(SECTIONS.len() * NAMES.len());
    // Interleaved so that popularity is spread over sections rather than one section first.
    for name in NAMES {
        for (dir, ext) in SECTIONS {
            let size = if ext == "gif" {
                100 + rng.below(20_000)
            } else {
                1_000 + rng.below(60_000)
            };
            out.push((format!("{dir}{name}.{ext}"), size));
        }
    }
    out
}

/// `yyyy-MM-ddTHH:mm:ss.SSSZ` of a UTC instant (proleptic Gregorian calendar).
pub fn iso8601(ms: i64) -> String {
    let days = ms.div_euclid(DAY_MS);
    let in_day = ms.rem_euclid(DAY_MS);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / HOUR_MS,
        in_day / 60_000 % 60,
        in_day / 1_000 % 60,
        in_day % 1_000
    )
}

/// splitmix64: tiny, fast and good enough to pick log fields.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `[0, bound)`; `bound` is small, so the modulo bias is negligible.
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }
}
