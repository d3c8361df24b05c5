//! The registry: every setting Rampart understands, with its kind and default.
//! Names are Elasticsearch's; Rampart's own additions live under `rampart.`.

use std::sync::OnceLock;

use crate::Value;
use crate::time::parse_time_value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Bool,
    /// A port, a range `9200-9300`, or 0 for an ephemeral port.
    PortRange,
    Time,
    ByteSize,
    Enum(&'static [&'static str]),
    /// An integer of at least 1.
    PositiveInt,
    List,
    TlsProtocols,
    /// A secret: refused in plain text; [`SettingDef::keystore_name`] says where it belongs.
    Secret,
}

#[derive(Debug, Clone)]
pub struct SettingDef {
    pub name: String,
    pub kind: Kind,
    pub default: Option<&'static str>,
    /// For secrets: the keystore entry that holds this value instead of plain text.
    pub keystore_name: Option<String>,
}

impl SettingDef {
    pub fn keystore_only(&self) -> Option<&str> {
        self.keystore_name.as_deref()
    }

    fn plain(name: String, kind: Kind, default: Option<&'static str>) -> SettingDef {
        SettingDef {
            name,
            kind,
            default,
            keystore_name: None,
        }
    }
}

pub const SUPPORTED_TLS_PROTOCOLS: &[&str] = &["TLSv1.3", "TLSv1.2"];

impl Kind {
    pub(crate) fn validate(&self, value: &Value) -> Result<(), String> {
        let scalar = || match value {
            Value::Scalar(s) => Ok(s.as_str()),
            Value::List(_) => Err("expected a single value, not a list".to_string()),
        };
        match self {
            Kind::String | Kind::List | Kind::Secret => Ok(()),
            Kind::Bool => match scalar()? {
                "true" | "false" => Ok(()),
                _ => Err("expected true or false".to_string()),
            },
            Kind::PortRange => parse_port_range(scalar()?).map(|_| ()),
            Kind::Time => parse_time_value(scalar()?).map(|_| ()),
            Kind::PositiveInt => match scalar()?.trim().parse::<u32>() {
                Ok(n) if n >= 1 => Ok(()),
                _ => Err("expected a whole number of at least 1".to_string()),
            },
            Kind::ByteSize => parse_byte_size(scalar()?).map(|_| ()),
            Kind::Enum(allowed) => {
                let v = scalar()?;
                if allowed.contains(&v) {
                    Ok(())
                } else {
                    Err(format!("expected one of {}", allowed.join(", ")))
                }
            }
            Kind::TlsProtocols => {
                let items: Vec<String> = match value {
                    Value::Scalar(s) => s.split(',').map(|p| p.trim().to_string()).collect(),
                    Value::List(items) => items.clone(),
                };
                for item in &items {
                    if !SUPPORTED_TLS_PROTOCOLS.contains(&item.as_str()) {
                        return Err(format!(
                            "[{item}] is not supported: Rampart speaks only TLSv1.3 and TLSv1.2, \
                             older protocols are insecure"
                        ));
                    }
                }
                if items.is_empty() {
                    return Err("list at least one of TLSv1.3, TLSv1.2".to_string());
                }
                Ok(())
            }
        }
    }
}

/// Parses `9200`, `9200-9300` or `0` into an inclusive range.
pub fn parse_port_range(s: &str) -> Result<(u16, u16), String> {
    let port = |p: &str| {
        p.trim()
            .parse::<u16>()
            .map_err(|_| format!("[{p}] is not a port number (0-65535)"))
    };
    match s.split_once('-') {
        Some((low, high)) => {
            let (low, high) = (port(low)?, port(high)?);
            if low > high || low == 0 {
                Err("expected a range low-high with 0 < low <= high, e.g. 9200-9300".to_string())
            } else {
                Ok((low, high))
            }
        }
        None => {
            let p = port(s)?;
            Ok((p, p))
        }
    }
}

/// Parses Elasticsearch byte sizes: `100mb`, `1gb`, `512b`, `64kb`.
pub fn parse_byte_size(s: &str) -> Result<u64, String> {
    let lower = s.trim().to_ascii_lowercase();
    let split = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("[{s}] is not a byte size such as 100mb"))?;
    let multiplier: u64 = match unit.trim() {
        "" | "b" => 1,
        "kb" | "k" => 1 << 10,
        "mb" | "m" => 1 << 20,
        "gb" | "g" => 1 << 30,
        _ => return Err(format!("[{s}] has an unknown unit: use b, kb, mb or gb")),
    };
    n.checked_mul(multiplier)
        .ok_or_else(|| format!("[{s}] is too large"))
}

fn ssl_layer(defs: &mut Vec<SettingDef>, layer: &str, client_auth_default: &'static str) {
    let prefix = format!("xpack.security.{layer}.ssl.");
    let mut add = |suffix: &str, kind: Kind, default: Option<&'static str>| {
        defs.push(SettingDef::plain(
            format!("{prefix}{suffix}"),
            kind,
            default,
        ))
    };
    add("enabled", Kind::Bool, Some("false"));
    add("key", Kind::String, None);
    add("certificate", Kind::String, None);
    add("certificate_authorities", Kind::List, None);
    add("keystore.path", Kind::String, None);
    add("keystore.type", Kind::Enum(&["PKCS12", "pkcs12"]), None);
    add("truststore.path", Kind::String, None);
    add("truststore.type", Kind::Enum(&["PKCS12", "pkcs12"]), None);
    add(
        "client_authentication",
        Kind::Enum(&["none", "optional", "required"]),
        Some(client_auth_default),
    );
    add(
        "verification_mode",
        Kind::Enum(&["full", "certificate", "none"]),
        Some("full"),
    );
    add(
        "supported_protocols",
        Kind::TlsProtocols,
        Some("TLSv1.3,TLSv1.2"),
    );
    add("cipher_suites", Kind::List, None);
    // Secrets: the secure_* names belong in the keystore, and the legacy plain names are
    // refused with the secure name to use instead.
    for (plain, secure) in [
        ("keystore.password", "keystore.secure_password"),
        ("keystore.key_password", "keystore.secure_key_password"),
        ("truststore.password", "truststore.secure_password"),
        ("key_passphrase", "secure_key_passphrase"),
    ] {
        for name in [plain, secure] {
            defs.push(SettingDef {
                keystore_name: Some(format!("{prefix}{secure}")),
                ..SettingDef::plain(format!("{prefix}{name}"), Kind::Secret, None)
            });
        }
    }
}

pub fn registry() -> &'static [SettingDef] {
    static REGISTRY: OnceLock<Vec<SettingDef>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut defs = Vec::new();
        let mut add = |name: &str, kind: Kind, default: Option<&'static str>| {
            defs.push(SettingDef::plain(name.to_string(), kind, default))
        };
        add("cluster.name", Kind::String, Some("rampart"));
        add("node.name", Kind::String, None);
        add("node.portsfile", Kind::Bool, Some("false"));
        add("network.host", Kind::String, Some("_local_"));
        add("http.host", Kind::String, None);
        add("http.port", Kind::PortRange, Some("9200-9300"));
        add("http.max_content_length", Kind::ByteSize, Some("100mb"));
        add("action.auto_create_index", Kind::String, Some("true"));
        add("action.destructive_requires_name", Kind::Bool, Some("true"));
        add("transport.host", Kind::String, None);
        add("transport.port", Kind::PortRange, Some("9300-9400"));
        add("path.data", Kind::String, None);
        add("path.logs", Kind::String, None);
        add(
            "discovery.type",
            Kind::Enum(&["single-node", "multi-node"]),
            Some("multi-node"),
        );
        add("discovery.seed_hosts", Kind::List, None);
        add("cluster.initial_master_nodes", Kind::List, None);
        add("resource.reload.enabled", Kind::Bool, Some("true"));
        add("resource.reload.interval.high", Kind::Time, Some("5s"));
        add("xpack.security.enabled", Kind::Bool, Some("true"));
        defs.push(SettingDef {
            keystore_name: Some("bootstrap.password".to_string()),
            ..SettingDef::plain("bootstrap.password".to_string(), Kind::Secret, None)
        });
        let mut add = |name: &str, kind: Kind, default: Option<&'static str>| {
            defs.push(SettingDef::plain(name.to_string(), kind, default))
        };
        // Rampart extensions: response headers that harden every HTTP answer. An empty value
        // leaves that header out.
        add(
            "rampart.http.security_headers.enabled",
            Kind::Bool,
            Some("true"),
        );
        add(
            "rampart.http.security_headers.strict_transport_security",
            Kind::String,
            Some("max-age=31536000; includeSubDomains"),
        );
        add(
            "rampart.http.security_headers.content_security_policy",
            Kind::String,
            Some("default-src 'none'; frame-ancestors 'none'"),
        );
        add(
            "rampart.http.security_headers.frame_options",
            Kind::String,
            Some("DENY"),
        );
        add(
            "rampart.http.security_headers.referrer_policy",
            Kind::String,
            Some("no-referrer"),
        );
        add(
            "xpack.security.authc.token.enabled",
            Kind::Bool,
            Some("true"),
        );
        add(
            "xpack.security.authc.token.timeout",
            Kind::Time,
            Some("20m"),
        );
        add(
            "xpack.security.authc.anonymous.username",
            Kind::String,
            Some("_anonymous"),
        );
        add("xpack.security.authc.anonymous.roles", Kind::List, None);
        add(
            "xpack.security.authc.anonymous.authz_exception",
            Kind::Bool,
            Some("true"),
        );
        // The realm chain: xpack.security.authc.realms.{type}.{name}.*
        add("xpack.security.authc.realms.*.*.order", Kind::String, None);
        add(
            "xpack.security.authc.realms.*.*.enabled",
            Kind::Bool,
            Some("true"),
        );
        // A time value, or 0 to turn the cache off (checked where the realm is built).
        add(
            "xpack.security.authc.realms.*.*.cache.ttl",
            Kind::String,
            Some("20m"),
        );
        add(
            "xpack.security.authc.realms.*.*.cache.max_users",
            Kind::PositiveInt,
            Some("100000"),
        );
        add(
            "xpack.security.authc.realms.*.*.cache.hash_algo",
            Kind::String,
            Some("ssha256"),
        );
        add(
            "xpack.security.password_hashing.algorithm",
            Kind::String,
            Some("bcrypt"),
        );
        // Rampart extension: failed-login throttling (see the README).
        add(
            "rampart.security.authc.throttle.enabled",
            Kind::Bool,
            Some("true"),
        );
        add(
            "rampart.security.authc.throttle.max_user_failures",
            Kind::PositiveInt,
            Some("5"),
        );
        add(
            "rampart.security.authc.throttle.max_address_failures",
            Kind::PositiveInt,
            Some("50"),
        );
        add(
            "rampart.security.authc.throttle.window",
            Kind::Time,
            Some("5m"),
        );
        add(
            "rampart.security.authc.throttle.lockout",
            Kind::Time,
            Some("1m"),
        );
        ssl_layer(&mut defs, "http", "none");
        ssl_layer(&mut defs, "transport", "required");
        defs
    })
}

pub fn lookup(name: &str) -> Option<&'static SettingDef> {
    registry()
        .iter()
        .find(|d| d.name == name)
        .or_else(|| registry().iter().find(|d| pattern_matches(&d.name, name)))
}

/// A registered name with `*` segments (`xpack.security.authc.realms.*.*.order`) matches any
/// name with a non-empty segment in each of those places.
fn pattern_matches(pattern: &str, name: &str) -> bool {
    if !pattern.contains('*') {
        return false;
    }
    let (mut p, mut n) = (pattern.split('.'), name.split('.'));
    loop {
        match (p.next(), n.next()) {
            (None, None) => return true,
            (Some("*"), Some(segment)) if !segment.is_empty() => {}
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
    }
}

/// The registered name closest to a mistyped one, if any is close enough to be a likely typo.
pub fn nearest(name: &str) -> Option<&'static str> {
    let mut best: Option<(f64, &'static str)> = None;
    for def in registry() {
        let score = strsim::jaro_winkler(name, &def.name);
        if best.is_none_or(|(b, _)| score > b) {
            best = Some((score, def.name.as_str()));
        }
    }
    best.filter(|(score, _)| *score >= 0.85).map(|(_, n)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_whole_segments() {
        assert!(lookup("xpack.security.authc.realms.native.native1.order").is_some());
        assert!(lookup("xpack.security.authc.realms.file.f.cache.ttl").is_some());
        assert!(lookup("xpack.security.authc.realms.native..order").is_none());
        assert!(lookup("xpack.security.authc.realms.native.n.x.order").is_none());
        assert!(lookup("xpack.security.authc.realms.native.n.frobnicate").is_none());
    }

    #[test]
    fn port_ranges() {
        assert_eq!(parse_port_range("0"), Ok((0, 0)));
        assert_eq!(parse_port_range("9200"), Ok((9200, 9200)));
        assert_eq!(parse_port_range("9200-9300"), Ok((9200, 9300)));
        assert!(parse_port_range("9300-9200").is_err());
        assert!(parse_port_range("abc").is_err());
        assert!(parse_port_range("65536").is_err());
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_byte_size("100mb"), Ok(100 << 20));
        assert_eq!(parse_byte_size("512"), Ok(512));
        assert!(parse_byte_size("5parsecs").is_err());
    }

    #[test]
    fn nearest_finds_typos_but_not_noise() {
        assert_eq!(nearest("cluster.nmae"), Some("cluster.name"));
        assert_eq!(
            nearest("xpack.security.http.ssl.enable"),
            Some("xpack.security.http.ssl.enabled")
        );
        assert_eq!(nearest("zzzz"), None);
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = registry().iter().map(|d| d.name.as_str()).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
    }
}
